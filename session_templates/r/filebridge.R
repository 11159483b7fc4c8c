# filebridge R worker: connects this R session to a filebridge session folder.
#
# Base R and jsonlite only; the later package, where installed, lets it answer the host at
# an idle prompt. Speaks the wire format of docs/protocol.md (protocol 1); the R specifics
# (appending without a POSIX lock, polling, the plot device, the variables snapshot, answering
# at an idle prompt) are explained in docs/r.md.
#
#   source("filebridge.R"); filebridge_connect("/path/to/session")   # or FILEBRIDGE_SESSION
#
# Everything lives in one environment attached as "tools:filebridge"; sourcing the file again
# replaces it (and disconnects the previous connection first).

local({
  if ("tools:filebridge" %in% search()) {
    old <- as.environment("tools:filebridge")
    if (exists("filebridge_disconnect", envir = old, inherits = FALSE)) {
      try(old$filebridge_disconnect(detach = FALSE), silent = TRUE)
    }
    detach("tools:filebridge", character.only = TRUE)
  }
  if (!requireNamespace("jsonlite", quietly = TRUE)) {
    stop("filebridge needs the R package 'jsonlite' (Debian: apt-get install r-cran-jsonlite; ",
         "elsewhere: install.packages(\"jsonlite\"))")
  }

  fb <- new.env()
  state <- new.env()
  # the folder this file was sourced from: help_pages.R is beside it (the template's files)
  state$worker_dir <- local({
    found <- NULL
    for (i in rev(seq_len(sys.nframe()))) {
      frame <- sys.frame(i)
      if (exists("ofile", envir = frame, inherits = FALSE)) {
        found <- get("ofile", envir = frame, inherits = FALSE)
        break
      }
    }
    if (is.character(found) && length(found) == 1L && file.exists(found)) {
      dirname(normalizePath(found))
    }
  })
  state$connected <- FALSE
  state$handlers <- list()
  state$pid <- -1L  # the process whose requests are numbered and whose files are open (none yet)
  state$looks_pay <- TRUE   # whether answers come while a call looks without pausing
  state$looks_skipped <- 0L
  state$idle_generation <- 0
  state$idle_looks <- FALSE
  fb$.state <- state

  # ---- small file primitives -------------------------------------------------------------

  with_private_umask <- function(expr) {
    old <- Sys.umask("077")
    on.exit(Sys.umask(old))
    force(expr)
  }

  make_private_dir <- function(path) {
    with_private_umask(dir.create(path, showWarnings = FALSE, recursive = TRUE, mode = "0700"))
    Sys.chmod(path, "0700", use_umask = FALSE)
  }

  write_raw <- function(path, bytes, mode) {
    con <- file(path, open = mode)
    on.exit(close(con))
    writeBin(bytes, con)
  }

  # Readers must see the old file or the new one, never a part: temp file + rename.
  atomic_write <- function(path, text_or_raw) {
    bytes <- if (is.raw(text_or_raw)) text_or_raw else charToRaw(enc2utf8(text_or_raw))
    tmp <- file.path(dirname(path), sprintf(".%s.%d.tmp", basename(path), Sys.getpid()))
    with_private_umask(write_raw(tmp, bytes, "wb"))
    if (!file.rename(tmp, path)) {
      unlink(tmp)
      stop("filebridge: cannot replace ", path)
    }
    invisible(path)
  }

  touch <- function(path, content = raw(0)) {
    if (!file.exists(path)) with_private_umask(write_raw(path, content, "wb"))
  }

  # A doorbell holds 20 digits rewritten in place: open without truncating, write at 0.
  ring <- function(path, value = NULL) {
    if (is.null(value)) value <- as.numeric(Sys.time()) * 1e6 + state$rings
    state$rings <- (state$rings + 1) %% 1000
    digits <- charToRaw(sprintf("%020.0f", value))
    con <- file(path, open = "r+b")
    on.exit(close(con))
    writeBin(digits, con)
  }

  read_bytes <- function(path, from = 0, n = NULL) {
    size <- file.size(path)
    if (is.na(size) || size <= from) return(raw(0))
    con <- file(path, open = "rb")
    on.exit(close(con))
    if (from > 0) seek(con, from)
    readBin(con, "raw", if (is.null(n)) size - from else n)
  }

  # ---- log generations (docs/protocol.md, "Log generations") -------------------------------
  # The host retires a log it writes once the log passes a size limit: the file keeps a second
  # name, <log>.<g>, and a new file takes the log's name, starting with the header line
  # {"log_generation":g,"base":B}. A reader reads on in the retired file until it is empty,
  # then in the next generation's file, after its header.
  header_pattern <- '^\\{"log_generation":([0-9]{1,12}),"base":([0-9]{1,20})\\}\n'
  log_header <- function(path) {
    first <- read_first(path, 64L)
    first <- first[first != as.raw(0)]
    found <- regmatches(rawToChar(first), regexec(header_pattern, rawToChar(first)))[[1]]
    if (length(found) != 3L) return(list(generation = 0, base = 0, length = 0))
    list(generation = as.numeric(found[2]), base = as.numeric(found[3]),
         length = nchar(found[1], type = "bytes"))
  }
  # The first bytes of a file by a fresh open (no size asked first: a mount's cached size lags).
  read_first <- function(path, n) {
    con <- tryCatch(file(path, open = "rb"), error = function(e) NULL,
                    warning = function(w) NULL)
    if (is.null(con)) return(raw(0))
    on.exit(close(con))
    readBin(con, "raw", n)
  }
  retired_name <- function(path, generation) {
    paste0(path, ".", format(generation, scientific = FALSE))
  }
  # Where a reader of generation g, having read all of it, goes on: the next generation's file
  # (its retired name if it was retired too) and the offset after its header. When that
  # generation is gone (rotated away unread), the current file.
  next_generation <- function(path, generation) {
    file <- retired_name(path, generation + 1)
    if (!file.exists(file)) file <- path
    head <- log_header(file)
    if (head$generation != generation + 1) {
      file <- path
      head <- log_header(path)
    }
    list(file = file, generation = head$generation, offset = head$length)
  }

  # Lines are kept whole without a lock (R cannot take a POSIX record lock): each line goes
  # out in ONE write(2) on an O_APPEND descriptor, which Linux keeps contiguous against other
  # appenders (Python's locked writers included). C stdio writes a line in one call when it
  # fits its buffer (<= 8 KiB with glibc) or is a multiple of the buffer size, so longer
  # lines are padded with spaces (valid JSON whitespace) to such a multiple. See docs/r.md.
  pad_line <- function(bytes) {
    n <- length(bytes)
    if (n <= 512) return(bytes)
    block <- min(8192, 2^floor(log2(n)))
    extra <- (ceiling(n / block) * block) - n
    if (extra == 0) return(bytes)
    c(bytes[-n], rep(as.raw(0x20), extra), as.raw(0x0a))
  }

  # A call's hot path (append, doorbell, looks at the answer log) uses seek(), readBin(),
  # writeBin() and flush() on connections kept open, and the clock. Their public functions
  # check arguments in R code that costs several times the system call (a look at the answer
  # log: about 10 us through them, 3.5 us without), so the internal functions they end in
  # are called directly, with arguments that are right by construction; only when this R's
  # wrappers still end in exactly these internal calls, else through the public functions.
  ends_in <- function(fun, call) any(grepl(call, deparse(body(fun)), fixed = TRUE))
  if (ends_in(base::seek.connection, ".Internal(seek(con, as.double(where), origin, rw))") &&
      ends_in(base::readBin, ".Internal(readBin(con, what, n, size, signed, swap))") &&
      ends_in(base::writeBin, ".Internal(writeBin(object, con, size, swap, useBytes))") &&
      ends_in(base::flush.connection, ".Internal(flush(con))")) {
    read_at <- function(con, where, n) {
      .Internal(seek(con, where, 1L, 1L))
      .Internal(readBin(con, "raw", n, NA_integer_, TRUE, FALSE))
    }
    write_at <- function(con, where, bytes) {
      .Internal(seek(con, where, 1L, 2L))
      .Internal(writeBin(bytes, con, NA_integer_, FALSE, FALSE))
      .Internal(flush(con))
    }
    write_flush <- function(con, bytes) {
      .Internal(writeBin(bytes, con, NA_integer_, FALSE, FALSE))
      .Internal(flush(con))
    }
  } else {
    read_at <- function(con, where, n) {
      seek(con, where, rw = "read")
      readBin(con, "raw", n)
    }
    write_at <- function(con, where, bytes) {
      seek(con, where, rw = "write")
      write_flush(con, bytes)
    }
    write_flush <- function(con, bytes) {
      writeBin(bytes, con)
      flush(con)
    }
  }

  now_seconds <- if (ends_in(base::Sys.time, ".POSIXct(.Internal(Sys.time()))")) {
    function() .Internal(Sys.time())
  } else {
    function() as.numeric(Sys.time())
  }

  # A process numbers its requests after an id prefix of its own (24 random hex digits, as the
  # Python worker's), and keeps the request log (to append and to look at its end), its doorbell
  # and the answer log open between calls: opening and closing a file costs more than the write.
  # A forked child makes its own at its first request: the parent's ids would mix up answers,
  # and a shared file position would let parent and child move each other's seeks.
  own_process <- function() {
    # a forked child writes beside its parent: neither may retire the log any more
    if (isTRUE(state$pid > 0) && state$pid != Sys.getpid()) state$other_writers <- TRUE
    close_kept()
    p <- state$paths
    state$kept <- with_private_umask(list(
      request_log = file(p$request_log, open = "ab"),
      request_tail = file(p$request_log, open = "rb"),
      request_lock = file(p$request_lock, open = "r+b"),
      response_log = open_answer_log()))
    head <- log_header(p$request_log)
    state$request_generation <- head$generation
    state$request_base <- head$base
    state$log_end <- NULL
    state$seq <- 0
    state$id_prefix <- random_hex(12)
    state$line_command <- NULL  # the remembered line format holds the prefix
    state$pid <- Sys.getpid()
  }

  # The answer log's file of the generation this process reads (its retired name if the host
  # retired it meanwhile); when that generation is gone, the current file from its end.
  open_answer_log <- function() {
    path <- state$paths$response_log
    file <- retired_name(path, state$answer_generation)
    if (!file.exists(file)) {
      file <- path
      if (log_header(path)$generation != state$answer_generation) {
        state$answer_generation <- log_header(path)$generation
        state$answer_offset <- file.size(path)
        state$answer_partial <- raw(0)
      }
    }
    file(file, open = "rb")
  }

  close_kept <- function() {
    for (con in state$kept) try(close(con), silent = TRUE)
    state$kept <- NULL
    state$pid <- -1L
  }

  append_request <- function(line) {
    kept <- state$kept
    bytes <- charToRaw(enc2utf8(line))  # the line ends with its newline
    # Usually the log still ends with our own last line: then the two bytes from its last
    # byte on are exactly that newline, and neither the size nor the last byte need a look.
    end <- state$log_end
    tail <- NULL
    if (!is.null(end)) {
      tail <- read_at(kept$request_tail, end - 1, 2L)
    }
    if (length(tail) != 1L || tail != as.raw(0x0a)) {
      if (!is.null(end)) state$other_writers <- TRUE
      end <- file.size(state$paths$request_log)
      if (is.na(end)) end <- 0
      if (end > 0 && read_bytes(state$paths$request_log, end - 1, 1) != as.raw(0x0a)) {
        # a writer killed mid-line left a fragment: end it so it cannot swallow this line
        bytes <- c(as.raw(0x0a), bytes)
      }
    }
    if (length(bytes) <= 512) {
      # the kept connection's stdio buffer is empty (flushed after every line) and holds at
      # least 512 bytes, so the flush hands the line to the kernel in one write(2)
      write_flush(kept$request_log, bytes)
    } else {
      # a longer line goes through a fresh stream, padded: see pad_line
      bytes <- pad_line(bytes)
      write_raw(state$paths$request_log, bytes, "ab")
    }
    # where our line ended if nobody else wrote meanwhile (if somebody did, the next append
    # looks at the size and the last byte); rung as the log's new size
    end <- end + length(bytes)
    state$log_end <- end
    logical_end <- state$request_base + end
    if (end >= state$rotate_at && !isTRUE(state$other_writers)) retire_request_log(end)
    write_at(kept$request_lock, 0, charToRaw(sprintf("%020.0f", logical_end)))
  }

  # The size at which this worker retires its request log: FILEBRIDGE_ROTATE_AT bytes, 0 never.
  rotate_limit <- function() {
    limit <- suppressWarnings(as.numeric(Sys.getenv("FILEBRIDGE_ROTATE_AT", "")))
    if (is.na(limit)) limit <- 64 * 2^20
    if (limit <= 0) Inf else limit
  }

  # Retire the request log for a new generation (docs/protocol.md, "Log generations"). R has
  # no record locks, so it does so only while it has seen no other process append (a forked
  # child that posts turns rotation off for the session's life): another writer could still
  # hold the retired file and append to it after the host moved on.
  retire_request_log <- function(end) {
    p <- state$paths$request_log
    generation <- state$request_generation
    base <- state$request_base
    retired <- retired_name(p, generation)
    unlink(retired)
    if (!suppressWarnings(file.link(p, retired)) && !file.rename(p, retired)) return(invisible())
    header <- sprintf('{"log_generation":%s,"base":%s}\n', format(generation + 1, scientific = FALSE),
                      format(base + end, scientific = FALSE))
    atomic_write(p, header)
    released <- host_read_up_to()
    older_end <- base
    for (older in rev(seq_len(generation) - 1)) {
      file <- retired_name(p, older)
      if (!file.exists(file)) break
      older_base <- log_header(file)$base
      if (older_end <= released || generation - older >= 8) unlink(file)
      older_end <- older_base
    }
    for (name in c("request_log", "request_tail")) try(close(state$kept[[name]]), silent = TRUE)
    state$kept$request_log <- with_private_umask(file(p, open = "ab"))
    state$kept$request_tail <- file(p, open = "rb")
    state$request_generation <- generation + 1
    state$request_base <- base + end
    state$log_end <- nchar(header, type = "bytes")
  }

  # How far the host has read the request log: DONE of host.offset (0 when unreadable).
  host_read_up_to <- function() {
    record <- tryCatch(rawToChar(read_bytes(file.path(state$paths$folder, "host.offset"), 0, 60L)),
                       error = function(e) "")
    done <- suppressWarnings(as.numeric(strsplit(trimws(record), " ", fixed = TRUE)[[1]][2]))
    if (length(done) != 1L || is.na(done)) 0 else done
  }

  read_urandom <- function(n) {
    tryCatch({
      con <- file("/dev/urandom", open = "rb", raw = TRUE)
      on.exit(close(con))
      readBin(con, "raw", n)
    }, error = function(e) raw(0), warning = function(w) raw(0))
  }

  # Ids need 16 random bytes each; /dev/urandom is read 4 KiB at a time, per process, so a
  # forked child never reuses its parent's pool.
  random_hex <- function(n_bytes) {
    if (!identical(state$entropy_pid, Sys.getpid()) ||
        state$entropy_pos + n_bytes > length(state$entropy)) {
      state$entropy <- read_urandom(4096)
      state$entropy_pos <- 0
      state$entropy_pid <- Sys.getpid()
    }
    if (state$entropy_pos + n_bytes <= length(state$entropy)) {
      bytes <- state$entropy[state$entropy_pos + seq_len(n_bytes)]
      state$entropy_pos <- state$entropy_pos + n_bytes
      return(paste(as.character(bytes), collapse = ""))
    }
    # no /dev/urandom (Windows): R's generator, without disturbing the user's random stream
    had_seed <- exists(".Random.seed", envir = globalenv(), inherits = FALSE)
    if (had_seed) saved <- get(".Random.seed", envir = globalenv())
    on.exit(if (had_seed) assign(".Random.seed", saved, envir = globalenv())
            else rm(".Random.seed", envir = globalenv()))
    paste(sample(c(0:9, letters[1:6]), n_bytes * 2, replace = TRUE), collapse = "")
  }

  # A plain scalar's JSON; NULL for anything else.
  scalar_json <- function(x) {
    if (length(x) != 1L || !is.null(attributes(x))) return(NULL)
    switch(typeof(x),
           character = json_strings(x),
           double = , integer = if (is.finite(x)) as.character(x) else "null",
           logical = if (is.na(x)) "null" else if (x) "true" else "false",
           NULL)
  }

  # JSON for plain values (NULL, atomic vectors, lists) is built here: jsonlite::toJSON costs
  # about 150 us a call, too much for a round trip. Anything else (classes, attributes) goes
  # to jsonlite. Length-1 vectors become scalars; NA and non-finite numbers become null.
  to_json <- function(x) {
    scalar <- scalar_json(x)
    if (!is.null(scalar)) return(scalar)
    if (is.null(x)) return("null")
    if (isTRUE(attr(x, "filebridge_json"))) return(as.vector(x))  # JSON text already
    if (is.list(x) && is.null(attr(x, "class"))) {
      keys <- names(x)
      if (!length(x)) return(if (is.null(keys)) "[]" else "{}")
      parts <- character(length(x))
      for (i in seq_along(x)) {
        v <- x[[i]]
        # plain numbers inline: a call per element costs more than the conversion
        parts[i] <- if ((is.double(v) || is.integer(v)) && length(v) == 1L &&
                        is.null(attributes(v))) {
          if (is.finite(v)) as.character(v) else "null"
        } else {
          to_json(v)
        }
      }
      if (is.null(keys)) return(paste0("[", paste(parts, collapse = ","), "]"))
      return(paste0("{", paste0(json_keys(keys), ":", parts, collapse = ","), "}"))
    }
    if (is.atomic(x) && !is.object(x) && is.null(dim(x))) {
      cells <- if (is.character(x)) json_strings(x)
        else if (is.logical(x)) c("false", "true")[x + 1L]
        else if (is.numeric(x)) as.character(x)
        else NULL
      if (!is.null(cells) && !is.character(x) && !all(is.finite(x))) {
        cells[!is.finite(x)] <- "null"
      }
      if (!is.null(cells)) {
        if (length(cells) == 1) return(cells)
        return(paste0("[", paste(cells, collapse = ","), "]"))
      }
    }
    as.character(jsonlite::toJSON(x, auto_unbox = TRUE, null = "null", na = "null",
                                  digits = NA, force = TRUE))
  }

  # A call's keys are usually the same as the last call's: their JSON is remembered, by the
  # keys joined with "\r". That join is ambiguous only for keys that contain "\r", and those
  # are never remembered (they need escaping), so a remembered entry of another length than
  # the keys asked for is not theirs.
  key_cache <- new.env(parent = emptyenv())
  json_keys <- function(keys) {
    joined <- paste(keys, collapse = "\r")
    if (!nzchar(joined) || anyNA(keys)) return(json_strings(keys))
    cached <- key_cache[[joined]]
    if (length(cached) == length(keys)) return(cached)
    quoted <- json_strings(keys)
    if (!any(grepl("\\", quoted, fixed = TRUE))) {
      if (length(key_cache) > 1000) rm(list = ls(key_cache, all.names = TRUE), envir = key_cache)
      key_cache[[joined]] <- quoted
    }
    quoted
  }

  # The JSON of each argument when all are plain scalars (a call's arguments mostly are), else
  # NULL. Written out rather than through scalar_json(): a call per value costs more than this.
  scalar_values <- function(args) {
    values <- character(length(args))
    for (i in seq_along(args)) {
      x <- args[[i]]
      if (length(x) != 1L || !is.null(attributes(x))) return(NULL)
      values[i] <- if (is.character(x)) {
        if (is.na(x)) "null"
        else if (is.null(escape_native)) json_strings(x)
        else .Call(escape_native, enc2utf8(x))
      } else if (is.double(x) || is.integer(x)) {
        if (is.finite(x)) as.character(x) else "null"
      } else if (is.logical(x)) {
        if (is.na(x)) "null" else if (x) "true" else "false"
      } else {
        return(NULL)
      }
    }
    values
  }

  # jsonlite's string escaping in C (a string's JSON, quotes included), where this jsonlite has
  # it and it escapes as JSON needs, checked here once; else NULL.
  escape_native <- local({
    native <- tryCatch(get("C_escape_chars", envir = asNamespace("jsonlite")),
                       error = function(e) NULL)
    probe <- paste0("a\"\\\n\001", "\u00e9</")
    expected <- paste0("\"a\\\"\\\\\\n\\u0001", "\u00e9", c("</", "<\\/"), "\"")
    escaped <- if (!is.null(native)) tryCatch(.Call(native, probe), error = function(e) NULL)
    if (is.character(escaped) && length(escaped) == 1L && escaped %in% expected) native
  })

  # Numbers with 15 significant digits: jsonlite's formatter (about twice as fast as sprintf),
  # where this jsonlite has it and it writes a probe exactly as sprintf("%.15g") does.
  number_text <- local({
    fallback <- function(x) sprintf("%.15g", x)
    native <- tryCatch(get("num_to_char", envir = asNamespace("jsonlite")),
                       error = function(e) NULL)
    probe <- c(0.1, 1 / 3, 1e5, 1e20, 123456789012345, -0.5, 1e-300, 2^53, 0, -2.5e-7)
    fast <- function(x) native(x, digits = 15, na_as_string = FALSE, use_signif = TRUE)
    written <- if (is.function(native)) tryCatch(fast(probe), error = function(e) NULL)
    if (identical(written, fallback(probe))) fast else fallback
  })

  # jsonlite's parser in C without parse_json()'s layers of R (about 9 us a line less), where
  # this jsonlite has it and it reads a probe exactly as parse_json() does; else parse_json().
  parse_json <- local({
    public <- function(text) jsonlite::parse_json(text, simplifyVector = FALSE)
    native <- tryCatch(get("R_parse", envir = asNamespace("jsonlite")), error = function(e) NULL)
    probe <- '{"a":[1,"x\\u00e9",null,true,2.5e300],"b":{},"c":[]}'
    parsed <- if (!is.null(native)) tryCatch(.Call(native, probe, FALSE), error = function(e) NULL)
    if (!is.null(parsed) && identical(parsed, public(probe))) {
      function(text) .Call(native, text, FALSE)
    } else {
      public
    }
  })

  from_json <- function(bytes) {
    parse_json(rawToChar(bytes))
  }

  # ---- the connection --------------------------------------------------------------------

  paths_of <- function(dir) {
    list(folder = dir,
         session_json = file.path(dir, "session.json"),
         request_log = file.path(dir, "request.log"),
         request_lock = file.path(dir, "request.lock"),
         responses = file.path(dir, "responses"),
         response_log = file.path(dir, "response.log"),
         response_lock = file.path(dir, "response.lock"),
         command_log = file.path(dir, "command.log"),
         command_lock = file.path(dir, "command.lock"),
         command_responses = file.path(dir, "command_responses"),
         command_response_lock = file.path(dir, "command_response.lock"),
         heartbeat = file.path(dir, "heartbeat"),
         workspace_json = file.path(dir, "workspace.json"),
         workspace_lock = file.path(dir, "workspace.lock"),
         plot_png = file.path(dir, "plot.png"),
         plot_lock = file.path(dir, "plot.lock"),
         views = file.path(dir, "views"))
  }

  default_session_dir <- function() {
    root <- Sys.getenv("FILEBRIDGE_ROOT", "")
    if (!nzchar(root)) root <- path.expand("~/.filebridge")
    file.path(root, "sessions", random_hex(6))
  }

  # `before_announcing()` runs once every file exists and before session.json does.
  prepare_session <- function(p, before_announcing = function() NULL) {
    make_private_dir(p$folder)
    make_private_dir(p$responses)
    make_private_dir(p$command_responses)
    make_private_dir(p$views)
    zero <- charToRaw(strrep("0", 20))
    touch(p$request_log)
    touch(p$response_log)
    touch(p$command_log)
    for (bell in c(p$request_lock, p$response_lock, p$command_lock, p$command_response_lock,
                   p$heartbeat, p$workspace_lock, p$plot_lock)) touch(bell, zero)
    existing <- tryCatch(from_json(read_bytes(p$session_json)), error = function(e) list())
    token <- existing$token
    if (!is.character(token) || !nzchar(token)) token <- random_hex(16)
    versions <- list(r = paste(R.version$major, R.version$minor, sep = "."),
                     jsonlite = as.character(utils::packageVersion("jsonlite")))
    info <- list(protocol = 1L, id = basename(p$folder), pid = Sys.getpid(),
                 machine = Sys.info()[["nodename"]], started = as.numeric(Sys.time()),
                 token = token, cwd = normalizePath(getwd(), winslash = "/"),
                 language = "r", versions = versions,
                 tempdir = normalizePath(tempdir(), winslash = "/"),
                 interactive = interactive(),
                 answers = if (isTRUE(state$answer_files)) "files" else "log",
                 log_generations = 1L)
    before_announcing()
    # written last: the host ignores a folder until session.json exists
    atomic_write(p$session_json, to_json(info))
    info
  }

  # A request's id is the process's prefix and the sequence number in 8 hex digits. A call
  # mostly repeats the last call's command and argument names with up to four plain scalars: its
  # line is then one sprintf() of a remembered format, with the id's prefix, the command and the
  # names written in and a slot for each value.
  encode_request <- function(command, args, answer) {
    pid <- state$pid
    seq <- state$seq + 1
    state$seq <- seq
    now <- now_seconds()
    state$posted_at <- now
    number <- as.integer(seq %% 2^31)
    id <- sprintf("%s%08x", state$id_prefix, number)
    n <- length(args)
    values <- if (n <= 4L) scalar_values(args)
    if (is.null(values)) {
      return(list(id = id, line = sprintf(
        '{"v":1,"id":"%s","seq":%.0f,"time":%.6f,"pid":%d,"command":%s,"answer":%s,"args":%s}\n',
        id, seq, now, pid, to_json(as.character(command)), if (answer) "true" else "false",
        if (n) to_json(args) else "{}")))
    }
    keys <- names(args)
    if (!identical(command, state$line_command) || !identical(keys, state$line_keys) ||
        !identical(answer, state$line_answer)) {
      state$line_format <- line_format(command, keys, answer)
      state$line_command <- command
      state$line_keys <- keys
      state$line_answer <- answer
    }
    format <- state$line_format
    list(id = id, line = switch(n + 1L,
      sprintf(format, number, seq, now, pid),
      sprintf(format, number, seq, now, pid, values[1L]),
      sprintf(format, number, seq, now, pid, values[1L], values[2L]),
      sprintf(format, number, seq, now, pid, values[1L], values[2L], values[3L]),
      sprintf(format, number, seq, now, pid, values[1L], values[2L], values[3L], values[4L])))
  }

  line_format <- function(command, keys, answer) {
    percent_safe <- function(json) gsub("%", "%%", json, fixed = TRUE)
    slots <- if (length(keys)) paste0(percent_safe(json_keys(keys)), ":%s", collapse = ",")
    paste0('{"v":1,"id":"', state$id_prefix, '%08x","seq":%.0f,"time":%.6f,"pid":%d,',
           '"command":', percent_safe(to_json(as.character(command))),
           ',"answer":', if (answer) "true" else "false", ',"args":{', slots, '}}\n')
  }

  check_connected <- function() {
    if (!isTRUE(state$connected)) {
      stop(fb_condition("filebridge is not connected: call filebridge_connect() first",
                        "filebridge_not_connected"))
    }
  }

  fb_condition <- function(message, class, ...) {
    structure(class = c(class, "filebridge_error", "error", "condition"),
              list(message = message, call = NULL, ...))
  }

  post <- function(command, args, answer) {
    keys <- names(args)
    if (length(args) && (is.null(keys) || !all(nzchar(keys)))) {
      stop(fb_condition("filebridge: every argument of a request needs a name (key = value)",
                        "filebridge_bad_arguments"))
    }
    if (state$pid != Sys.getpid()) own_process()
    last <- state$posted_at
    request <- encode_request(command, args, answer)
    append_request(request$line)
    if (is.null(last) || state$posted_at - last > 0.02) ring_wake()
    request$id
  }

  # A host on a network mount looks at a quiet session's doorbell only every few seconds, and
  # at the root's wake bell often: after 20 ms of silence a request rings it too, with this
  # session's id (docs/protocol.md, "Waking a host that polls").
  ring_wake <- function() {
    path <- file.path(dirname(state$paths$folder), "wake.lock")
    stamp <- sprintf("%020.0f", as.numeric(Sys.time()) * 1e9)
    bytes <- charToRaw(paste0(stamp, formatC(basename(state$paths$folder), width = -64)))
    tryCatch({
      con <- file(path, open = if (file.exists(path)) "r+b" else "w+b")
      on.exit(close(con))
      writeBin(bytes, con)
    }, error = function(e) NULL)
  }

  # A new session is announced on a line of sessions/started.log before its first request:
  # a host that polls finds it there, since listings of folders lag on network mounts.
  announce_session <- function() {
    line <- paste0(basename(state$paths$folder), "\n")
    tryCatch(cat(line, file = file.path(dirname(state$paths$folder), "started.log"),
                 append = TRUE), error = function(e) NULL)
  }

  # The command is `.command`: a formal before `...` takes any argument whose name is a prefix
  # of it, so `command` would swallow an argument named `c`.
  fb$filebridge_send <- function(.command, ...) {
    "Send a request and return its id at once (fire and forget)."
    check_connected()
    invisible(post(.command, list(...), FALSE))
  }

  # Answers come through response.log (session.json says "answers": "log"): the host appends
  # each as one JSON line. This process reads on from where the log ended when it connected
  # and keeps the answers it waits for: usually one, more when a host request served while
  # waiting makes a call of its own. Other lines (a call that timed out, another process of
  # the session) are skipped by a fixed-string look for the ids, unparsed.
  # On a network or FUSE mount a kept connection keeps seeing the answer log as it was for
  # the attribute cache's lifetime (20 s on sshfs), while a file's name is looked up afresh:
  # there the session asks for an answer file each (docs/protocol.md, "What each side may
  # trust"), and a look is whether responses/<id>.json exists yet.
  take_answer_file <- function(id) {
    path <- file.path(state$paths$responses, paste0(id, ".json"))
    if (!file.exists(path)) return(NULL)
    text <- tryCatch(rawToChar(read_bytes(path)), error = function(e) "")
    if (!nzchar(text)) return(NULL)  # a rename not yet complete on the server
    unlink(path)
    parse_json(text)
  }

  # The mount holding a folder, from /proc/self/mountinfo: network filesystems and FUSE ones
  # deliver no events from other machines and cache what they show.
  on_network_mount <- function(folder) {
    if (identical(Sys.getenv("FILEBRIDGE_POLL"), "1")) return(TRUE)
    lines <- tryCatch(readLines("/proc/self/mountinfo", warn = FALSE),
                      error = function(e) character())
    best <- ""
    kind <- ""
    for (line in lines) {
      halves <- strsplit(line, " - ", fixed = TRUE)[[1]]
      if (length(halves) < 2L) next
      point <- gsub("\\040", " ", strsplit(halves[[1]], " ", fixed = TRUE)[[1]][5])
      inside <- folder == point || startsWith(folder, paste0(sub("/$", "", point), "/"))
      if (!is.na(point) && inside && nchar(point) >= nchar(best)) {
        best <- point
        kind <- strsplit(halves[[2]], " ", fixed = TRUE)[[1]][1]
      }
    }
    kind %in% c("nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "virtiofs", "fuse", "fuseblk",
                "ceph", "glusterfs", "lustre", "gpfs") || startsWith(kind, "fuse.")
  }

  take_answer <- function(id, con) {
    found <- state$arrived[[id]]
    if (!is.null(found)) {
      rm(list = id, envir = state$arrived)
      return(found)
    }
    if (isTRUE(state$answer_files)) return(take_answer_file(id))
    # a look mostly finds nothing or one small answer: a small first read allocates less
    chunk <- 512L
    repeat {
      data <- read_at(con, state$answer_offset, chunk)
      n <- length(data)
      if (!n) {
        if (!answer_log_retired()) return(found)
        data <- read_at(con, state$answer_offset, chunk)  # all it will ever hold: read it out
        n <- length(data)
        if (!n) {
          con <- follow_answer_log()
          next
        }
      }
      state$answer_offset <- state$answer_offset + n
      more <- n == chunk  # a short read reached the end
      chunk <- 65536L
      if (length(state$answer_partial)) data <- c(state$answer_partial, data)
      end <- length(data)
      if (data[end] != as.raw(0x0a)) {  # a line still being written: keep its start
        breaks <- which(data == as.raw(0x0a))
        if (!length(breaks)) {
          state$answer_partial <- data
          if (more) next else return(found)
        }
        end <- breaks[length(breaks)]
        state$answer_partial <- data[(end + 1):length(data)]
        data <- data[seq_len(end)]
      } else if (length(state$answer_partial)) {
        state$answer_partial <- raw(0)
      }
      if (any(data == as.raw(0))) data[data == as.raw(0)] <- as.raw(0x20)  # for rawToChar
      text <- rawToChar(data)
      waiting <- state$waiting
      # mostly one line, the answer waited for: parsed without splitting
      if (sum(data == as.raw(0x0a)) > 1L || !grepl(id, text, fixed = TRUE)) {
        lines <- strsplit(text, "\n", fixed = TRUE)[[1]]
        hit <- grepl(id, lines, fixed = TRUE)
        for (other in waiting[waiting != id]) hit <- hit | grepl(other, lines, fixed = TRUE)
        text <- lines[hit]
      }
      for (line in text) {
        # the host writes JSON: a line that is not is a broken host, and an error here
        answer <- parse_json(line)
        got <- answer$id
        if (identical(got, id)) {
          found <- answer
        } else if (is.character(got) && length(got) == 1L && got %in% waiting) {
          state$arrived[[got]] <- answer
        }
      }
      if (!more) return(found)
    }
  }

  # Whether the host retired the answer log under the kept connection: looked at (the log's
  # header, a file opened) at most every 5 ms of empty looks.
  answer_log_retired <- function() {
    now <- now_seconds()
    if (now - state$answer_checked < 0.005) return(FALSE)
    state$answer_checked <- now
    log_header(state$paths$response_log)$generation > state$answer_generation
  }

  follow_answer_log <- function() {
    nxt <- next_generation(state$paths$response_log, state$answer_generation)
    try(close(state$kept$response_log), silent = TRUE)
    state$kept$response_log <- file(nxt$file, open = "rb")
    state$answer_generation <- nxt$generation
    state$answer_offset <- nxt$offset
    state$answer_partial <- raw(0)
    state$kept$response_log
  }

  # The answer log is polled: R has no inotify. A look costs about 5 us and an answer to a
  # small call lands about 30 us after the doorbell when the host runs on another core, so the
  # first 30 looks (about 0.15 ms) follow each other without pause. When the host shares this
  # core those looks only keep it from running, and R cannot give the core away but by
  # sleeping: so once the answers stop coming during the looks, a call sleeps first, trying
  # the looks again every 32nd call. The first sleep, Sys.sleep(2e-5), lasts about 70 us with
  # the timer's slack, about what the host needs on a shared core; the next 19 the shortest
  # (about 55 us), then a back-off grows to 20 ms. Measured in docs/r.md.
  wait_for_answer <- function(id, deadline, serve_commands = TRUE) {
    state$waiting <- c(state$waiting, id)
    on.exit({
      state$waiting <- state$waiting[state$waiting != id]
      if (!is.null(state$arrived[[id]])) rm(list = id, envir = state$arrived)
    })
    if (state$looks_pay || state$looks_skipped >= 32L) {
      state$looks_skipped <- 0L
      for (i in 1:30) {
        answer <- take_answer(id, state$kept$response_log)
        if (!is.null(answer)) {
          state$looks_pay <- TRUE
          return(answer)
        }
      }
      state$looks_pay <- FALSE
    } else {
      state$looks_skipped <- state$looks_skipped + 1L
    }
    pause <- 2e-5
    polls <- 0
    repeat {
      Sys.sleep(pause)
      answer <- take_answer(id, state$kept$response_log)
      if (!is.null(answer)) return(answer)
      if (now_seconds() >= deadline) return(NULL)
      polls <- polls + 1
      if (polls == 60) state$host_beat_seen <- read_host_beat()
      if (serve_commands && polls %% 50 == 0) serve_pending_commands()
      pause <- if (polls < 20) 1e-6 else if (polls == 20) 2e-4 else min(pause * 1.25, 0.02)
    }
  }

  read_host_beat <- function() {
    read_bytes(file.path(dirname(dirname(state$paths$folder)), "host.heartbeat"))
  }

  fb$filebridge_call <- function(.command, ..., .timeout = getOption("filebridge.timeout", 10)) {
    "Ask the host and wait for the answer to this very request; its result, or an R error."
    if (!state$connected) check_connected()
    # compared at a timeout; read once the wait gets long rather than on every call
    state$host_beat_seen <- NULL
    id <- post(.command, list(...), TRUE)
    started <- state$posted_at
    answer <- wait_for_answer(id, started + .timeout)
    if (is.null(answer)) {
      waited <- as.numeric(Sys.time()) - started
      stop(fb_condition(sprintf("no answer to '%s' (request %s) within %.3g s: %s", .command, id,
                                waited, host_status(state$host_beat_seen)),
                        "filebridge_timeout", command = .command, waited = waited))
    }
    if (isTRUE(answer$ok)) return(answer$result)
    err <- answer$error
    code <- if (is.null(err$code)) "error" else err$code
    stop(fb_condition(sprintf("%s [%s]", err$message, code),
                      c(if (identical(code, "no_handler")) "filebridge_no_handler",
                        "filebridge_remote_error"),
                      code = code, details = err$details))
  }

  host_status <- function(beat_before) {
    root <- dirname(dirname(state$paths$folder))
    beat_now <- read_bytes(file.path(root, "host.heartbeat"))
    if (length(beat_now) && !is.null(beat_before) && !identical(beat_now, beat_before)) {
      return("a host is serving this root but did not answer in time")
    }
    holder <- tryCatch(from_json(read_bytes(file.path(root, "host.json"))),
                       error = function(e) NULL)
    if (is.null(holder)) return("no host serves this root (start one with `filebridge serve`)")
    if (identical(holder$machine, Sys.info()[["nodename"]]) && is.numeric(holder$pid)) {
      if (isTRUE(tools::pskill(holder$pid, 0))) {
        return(sprintf("the host (pid %d) is running but did not answer in time", holder$pid))
      }
      return(sprintf("the host (pid %d) is gone; start one with `filebridge serve`", holder$pid))
    }
    sprintf("the host last seen (pid %s on %s) did not beat while we waited; it may be down",
            format(holder$pid), format(holder$machine))
  }

  # ---- heartbeat ---------------------------------------------------------------------------

  # R has no threads, and a long computation must not look like a dead session: a tiny shell
  # loop beats for us while this R process lives (checked with kill -0, which is valid here:
  # the loop runs on the worker's machine). Without sh (Windows) R beats at each top-level call.
  start_heartbeat <- function() {
    state$beats <- 0
    beat()
    if (.Platform$OS.type != "unix" || !nzchar(Sys.which("sh"))) return(invisible(NULL))
    loop <- paste0(
      "n=0; while kill -0 ", Sys.getpid(), " 2>/dev/null; do n=$((n+1)); ",
      "printf '%020d' \"$n\" | dd of=", shQuote(state$paths$heartbeat),
      " bs=20 count=1 conv=notrunc 2>/dev/null; sleep 2; done")
    pid <- tryCatch(
      system2("sh", c("-c", shQuote(paste0("(", loop, ") </dev/null >/dev/null 2>&1 & echo $!"))),
              stdout = TRUE),
      error = function(e) character(0))
    state$heartbeat_pid <- suppressWarnings(as.integer(pid[1]))
    invisible(NULL)
  }

  beat <- function() {
    state$beats <- state$beats + 1
    ring(state$paths$heartbeat, 1e9 + state$beats)
  }

  stop_heartbeat <- function() {
    if (!is.null(state$heartbeat_pid) && !is.na(state$heartbeat_pid)) {
      tools::pskill(state$heartbeat_pid)
    }
    state$heartbeat_pid <- NULL
  }

  # ---- host -> worker requests (command.log) ----------------------------------------------

  # What arrived in the command log since the last look, following its generations.
  read_command_log <- function() {
    path <- state$paths$command_log
    repeat {
      head <- log_header(path)
      # an older generation in the log's place is another file: nothing there is for us
      if (head$generation < state$command_generation) return(raw(0))
      current <- head$generation == state$command_generation
      file <- if (current) path else retired_name(path, state$command_generation)
      data <- read_to_end(file, state$command_offset)
      if (length(data) || current) return(data)
      nxt <- next_generation(path, state$command_generation)
      state$command_generation <- nxt$generation
      state$command_offset <- nxt$offset
      state$command_pending <- raw(0)
    }
  }

  # Served between top-level calls, while filebridge_call() waits, by filebridge_serve(), and
  # at an idle prompt by the idle look below (where the later package is installed).
  serve_pending_commands <- function() {
    if (!isTRUE(state$connected)) return(invisible(0))
    data <- read_command_log()
    if (!length(data)) return(invisible(0))
    # R's JIT would compile the pane's functions at their first calls, which made the first
    # expansions take about 0.3 s more; interpreted they cost little more than compiled
    jit <- compiler::enableJIT(0L)
    on.exit(compiler::enableJIT(jit))
    state$command_offset <- state$command_offset + length(data)
    data <- c(state$command_pending, data)
    breaks <- which(data == as.raw(0x0a))
    last <- if (length(breaks)) breaks[length(breaks)] else 0
    state$command_pending <- if (last < length(data)) data[(last + 1):length(data)] else raw(0)
    served <- 0
    start <- 1
    for (b in breaks) {
      line <- if (b > start) data[start:(b - 1)] else raw(0)
      start <- b + 1
      if (!length(line) || all(line %in% as.raw(c(0x20, 0x09, 0x0d)))) next
      serve_command_line(line)
      served <- served + 1
    }
    invisible(served)
  }

  # What a file holds from `from` on, through a fresh open and reads to its end (no size
  # asked first: a network mount's cached size lags).
  read_to_end <- function(path, from) {
    con <- tryCatch(file(path, open = "rb"), error = function(e) NULL,
                    warning = function(w) NULL)
    if (is.null(con)) return(raw(0))
    on.exit(close(con))
    if (from > 0) seek(con, from)
    parts <- list()
    repeat {
      chunk <- readBin(con, "raw", 65536L)
      if (length(chunk)) parts[[length(parts) + 1L]] <- chunk
      if (length(chunk) < 65536L) break
    }
    if (length(parts) == 1L) parts[[1L]] else unlist(parts, use.names = FALSE)
  }

  # ---- serving at an idle prompt -----------------------------------------------------------
  # An idle R prompt runs R code only from its event loop's input handlers. The later package
  # runs a callback from there (and from later::run_now()), never in the middle of other R
  # code; the idle look is such a callback: it reads command.lock's 20 digits by a fresh open
  # (what a network mount keeps current, docs/protocol.md), serves when the doorbell changed
  # or announces more of the log than was read, and schedules itself again: 10 ms after
  # serving, backing off by half again each quiet look to filebridge.idle_look_ms (100).
  # Rscript and R without later answer only at the moments listed above.

  IDLE_LOOK_FIRST <- 0.01

  start_idle_looks <- function() {
    state$idle_generation <- state$idle_generation + 1
    state$idle_looks <- FALSE
    if (!interactive() || !isTRUE(getOption("filebridge.idle_looks", TRUE))) {
      return(invisible(FALSE))
    }
    if (!requireNamespace("later", quietly = TRUE)) {
      message("filebridge: the R package 'later' is not installed, so the variables pane and ",
              "other host requests are answered only between commands, not while R waits ",
              "at its prompt (install.packages(\"later\"); Debian: r-cran-later)")
      return(invisible(FALSE))
    }
    state$idle_looks <- TRUE
    state$command_bell <- read_doorbell(state$paths$command_lock)
    schedule_idle_look(state$idle_generation, IDLE_LOOK_FIRST)
    invisible(TRUE)
  }

  schedule_idle_look <- function(generation, pause) {
    later::later(function() idle_look(generation, pause), pause)
  }

  idle_look <- function(generation, pause) {
    # a disconnect or a new connection ends this chain of looks
    if (!identical(generation, state$idle_generation) || !isTRUE(state$connected)) return()
    served <- tryCatch(serve_if_rung(), error = function(e) 0)
    most <- max(IDLE_LOOK_FIRST, getOption("filebridge.idle_look_ms", 100) / 1000)
    pause <- if (served) IDLE_LOOK_FIRST else min(pause * 1.5, most)
    schedule_idle_look(generation, pause)
  }

  read_doorbell <- function(path) {
    con <- tryCatch(file(path, open = "rb"), error = function(e) NULL,
                    warning = function(w) NULL)
    if (is.null(con)) return(raw(0))
    on.exit(close(con))
    readBin(con, "raw", 20L)
  }

  serve_if_rung <- function() {
    bell <- read_doorbell(state$paths$command_lock)
    announced <- suppressWarnings(as.numeric(rawToChar(bell[bell != as.raw(0)])))
    unread <- length(announced) == 1L && !is.na(announced) && announced > state$command_offset
    if (identical(bell, state$command_bell) && !unread) return(0)
    state$command_bell <- bell
    serve_pending_commands()
  }

  serve_command_line <- function(line) {
    request <- tryCatch(from_json(line), error = function(e) NULL)
    if (!is.list(request) || !is.character(request$id)) return(invisible(NULL))
    answer <- if (!identical(request$v, 1L)) {
      list(v = 1L, id = request$id, ok = FALSE,
           error = list(code = "unsupported_version",
                        message = "this R worker speaks filebridge protocol 1"))
    } else {
      handle_command(request)
    }
    atomic_write(file.path(state$paths$command_responses, paste0(request$id, ".json")),
                 to_json(answer))
    ring(state$paths$command_response_lock)
  }

  handle_command <- function(request) {
    name <- request$command
    handler <- if (is.character(name)) state$handlers[[name]] else NULL
    if (is.null(handler)) {
      return(list(v = 1L, id = request$id, ok = FALSE,
                  error = list(code = "no_handler",
                               message = sprintf("the R worker has no handler for '%s'",
                                                 format(name)))))
    }
    args <- if (is.list(request$args)) request$args else list()
    state$request_deadline <- now_seconds() + request_limit()
    on.exit(state$request_deadline <- NULL)
    tryCatch(list(v = 1L, id = request$id, ok = TRUE, result = handler(args)),
             error = function(e) {
               code <- if (inherits(e, "filebridge_answer_error")) e$code else "handler_error"
               list(v = 1L, id = request$id, ok = FALSE,
                    error = list(code = code, message = conditionMessage(e)))
             })
  }

  fb$filebridge_on_command <- function(name, handler) {
    "Answer the host's `name` requests with handler(args) (a list); the result must be JSON-able."
    stopifnot(is.character(name), length(name) == 1, is.function(handler))
    state$handlers[[name]] <- handler
    invisible(NULL)
  }

  fb$filebridge_serve <- function(seconds = Inf, interval = 0.005) {
    "Answer host requests for `seconds` (for scripts that have nothing else to do)."
    check_connected()
    deadline <- Sys.time() + seconds
    while (Sys.time() < deadline && isTRUE(state$connected)) {
      served <- serve_pending_commands()
      if (!served) Sys.sleep(interval)
    }
    invisible(NULL)
  }

  # ---- values as JSON: the table payload, trees, the variables snapshot --------------------

  # JSON strings (quoted; NA is null): jsonlite's escaping in C where it was found fit at
  # source() (escape_native), else in R.
  json_strings <- function(x) {
    if (!length(x)) return(character(0))
    x <- enc2utf8(as.character(x))
    out <- if (is.null(escape_native)) escape_in_r(x) else .Call(escape_native, x)
    if (anyNA(x)) out[is.na(x)] <- "null"
    out
  }

  escape_in_r <- function(x) {
    if (!any(grepl("[\"\\\\\001-\037]", x, useBytes = TRUE))) return(paste0("\"", x, "\""))
    out <- gsub("\\", "\\\\", x, fixed = TRUE)
    out <- gsub("\"", "\\\"", out, fixed = TRUE)
    out <- gsub("\n", "\\n", out, fixed = TRUE)
    out <- gsub("\r", "\\r", out, fixed = TRUE)
    out <- gsub("\t", "\\t", out, fixed = TRUE)
    odd <- grepl("[\001-\037]", out, useBytes = TRUE)
    if (any(odd)) {
      out[odd] <- vapply(out[odd], function(s) {
        codes <- utf8ToInt(s)
        paste(vapply(codes, function(k) if (k < 32) sprintf("\\u%04x", k) else intToUtf8(k), ""),
              collapse = "")
      }, "", USE.NAMES = FALSE)
    }
    paste0("\"", out, "\"")
  }

  # ---- table cells as JSON: the variables pane's table (vscode-R's shape) -------------------

  table_kind <- function(col) {
    if (inherits(col, c("Date", "POSIXt"))) return("date")
    if (is.logical(col)) return("bool")
    if (is.numeric(col) && !is.object(col)) return("number")
    "string"
  }

  # NA is null; Inf, -Inf and NaN are the strings "Inf", "-Inf", "NaN" (JSON has no such
  # numbers), so a missing value and a non-finite one stay distinguishable.
  number_cells <- function(x) {
    out <- number_text(x)
    odd <- which(!is.finite(x))
    if (length(odd)) {
      v <- x[odd]
      out[odd] <- ifelse(is.nan(v), "\"NaN\"", ifelse(is.na(v), "null",
                                                        ifelse(v > 0, "\"Inf\"", "\"-Inf\"")))
    }
    out
  }

  table_cells <- function(col) {
    if (inherits(col, "Date")) return(json_strings(format(col, "%Y-%m-%d")))
    if (inherits(col, "POSIXt")) return(json_strings(format(col, "%Y-%m-%d %H:%M:%S")))
    if (is.factor(col)) return(json_strings(levels(col)[col]))
    if (is.logical(col)) {
      out <- c("false", "true")[col + 1L]
      out[is.na(col)] <- "null"
      return(out)
    }
    if (is.integer(col) && !is.object(col)) {
      out <- as.character(col)
      out[is.na(col)] <- "null"
      return(out)
    }
    if (is.double(col) && !is.object(col)) return(number_cells(col))
    if (is.character(col)) return(json_strings(col))
    if (is.list(col) && !is.data.frame(col)) {
      return(json_strings(vapply(col, function(v) paste(format(v), collapse = ", "), "")))
    }
    json_strings(tryCatch(format(col), error = function(e) rep("<unprintable>", NROW(col))))
  }

  as_view_table <- function(x) {
    if (is.matrix(x)) x <- as.data.frame(x, stringsAsFactors = FALSE)
    if (!is.data.frame(x)) x <- data.frame(x = x, stringsAsFactors = FALSE)
    x
  }

  # Runs job() in a forked grandchild: parallel kills its own children when R exits (an
  # Rscript may end right after View()), and the grandchild is not one. FALSE where R cannot
  # fork (Windows) or parallel's internals are not as expected: the caller then runs job().
  in_background <- function(job) {
    if (.Platform$OS.type != "unix" || !requireNamespace("parallel", quietly = TRUE)) {
      return(FALSE)
    }
    ns <- asNamespace("parallel")
    if (!all(c("mcfork", "mcexit") %in% names(ns))) return(FALSE)
    child <- tryCatch(ns$mcfork(TRUE), error = function(e) NULL)
    if (is.null(child)) return(FALSE)
    if (inherits(child, "masterProcess")) {
      grandchild <- tryCatch(ns$mcfork(TRUE), error = function(e) NULL)
      if (inherits(grandchild, "masterProcess")) {
        try(job(), silent = TRUE)
        ns$mcexit(0L)
      }
      if (is.null(grandchild)) try(job(), silent = TRUE)
      ns$mcexit(0L)
    }
    TRUE
  }

  # ---- tables: the columnar snapshot (docs/protocol-viewers.md, version 2) -----------------
  # <views>/<id>/meta.json is the schema; each column is a file written by writeBin() of the
  # whole vector (numbers, codes, logicals as R holds them, little-endian) or, for text, the
  # UTF-8 bytes of all cells with float64 offsets and a byte a row for NA. The column files
  # that are only a writeBin() are written before the host is told, within a budget
  # (filebridge.view_blocking_ms); the rest by a forked process while R goes on, each one
  # listed as ready in a new meta.json when its files are complete. R keeps the table and
  # answers the page's table.* queries from it (below), so what is not written yet is shown
  # from R while R is idle.

  TABLE_MAX_LEVELS <- 100000L
  TABLE_LIVE_VIEWS <- 16L

  # The zone R shows a POSIXct without a tzone attribute in: TZ, else the system's zone.
  # (Sys.timezone() asks timedatectl, which warns where systemd does not run.)
  local_zone <- local({
    found <- NULL
    function() {
      if (!is.null(found)) return(found)
      zone <- sub("^:", "", Sys.getenv("TZ"))
      if (!nzchar(zone)) {
        link <- tryCatch(Sys.readlink("/etc/localtime"), error = function(e) "")
        if (length(link) == 1L && grepl("zoneinfo/", link, fixed = TRUE)) {
          zone <- sub(".*zoneinfo/", "", link)
        }
      }
      if (!nzchar(zone) && file.exists("/etc/timezone")) {
        zone <- tryCatch(trimws(readLines("/etc/timezone", n = 1L, warn = FALSE)),
                         error = function(e) "")
        if (!length(zone)) zone <- ""
      }
      if (!nzchar(zone)) {
        zone <- tryCatch(suppressWarnings(Sys.timezone()), error = function(e) NA_character_)
        if (is.na(zone) || !nzchar(zone)) zone <- "UTC"
      }
      found <<- zone
      zone
    }
  })

  # Whether every time (NA aside) is at midnight in `zone`: the page then shows dates only.
  # The seconds first (zones are whole quarters of an hour), the wall clock only then.
  all_midnight <- function(col, zone) {
    seconds <- unclass(col)
    attributes(seconds) <- NULL
    seconds <- seconds[is.finite(seconds)]
    if (!length(seconds) || any(utils::head(seconds, 1000L) %% 900 != 0) ||
        any(seconds %% 900 != 0)) return(FALSE)
    wall <- as.POSIXlt(.POSIXct(seconds, tz = zone))
    all(wall$hour == 0L & wall$min == 0L & wall$sec == 0)
  }

  # A column's type in the snapshot (and in the live answers): `type`, `storage`, `dtype`,
  # and `tz` / `levels` where they apply.
  column_spec <- function(col, name) {
    dtype <- paste(class(col), collapse = ", ")
    spec <- function(type, storage, ...) {
      list(name = name, type = type, storage = storage, dtype = dtype, ...)
    }
    if (is.factor(col)) {
      if (length(levels(col)) > TABLE_MAX_LEVELS) return(spec("string", "utf8"))
      return(spec("category", "i32", levels = as.list(levels(col))))
    }
    if (inherits(col, "Date")) return(spec("date", "f64"))
    if (inherits(col, "POSIXct")) {
      zone <- attr(col, "tzone")
      zone <- if (length(zone) && !is.na(zone[[1L]]) && nzchar(zone[[1L]])) zone[[1L]]
              else local_zone()
      if (all_midnight(col, zone)) return(spec("datetime", "f64", tz = zone, midnight = TRUE))
      return(spec("datetime", "f64", tz = zone))
    }
    if (inherits(col, "integer64") && is.double(col)) return(spec("integer", "i64"))
    if (identical(class(col), "difftime")) {
      return(spec("float", "f64", dtype = paste0("difftime (", attr(col, "units"), ")")))
    }
    if (!is.object(col) && is.null(dim(col))) {
      if (is.logical(col)) return(spec("boolean", "i32"))
      if (is.integer(col)) return(spec("integer", "i32"))
      if (is.double(col)) return(spec("float", "f64"))
      if (is.character(col)) return(spec("string", "utf8"))
    }
    spec("other", "utf8")
  }

  # The vector written for a fixed-width column: R's own values without their attributes.
  column_numbers <- function(col, spec) {
    v <- if (spec$type == "category") as.integer(col)
         else if (spec$storage == "f64" && !is.double(col)) as.double(unclass(col))
         else unclass(col)
    if (!is.null(attributes(v))) attributes(v) <- NULL
    v
  }

  # The text of a column's cells as R shows them: strings as they are, anything else through
  # its format() method (a list column: each element's values joined by ", ").
  column_text <- function(col, rows = NULL) {
    if (!is.null(rows)) {
      col <- if (is.data.frame(col)) col[rows, , drop = FALSE]
             else if (is.matrix(col)) col[rows, , drop = FALSE] else col[rows]
    }
    n <- NROW(col)
    if (is.character(col) && !is.object(col)) return(col)
    if (is.factor(col)) return(as.character(col))
    if (is.data.frame(col) || is.matrix(col)) {
      parts <- lapply(seq_len(NCOL(col)), function(k) {
        column_text(if (is.data.frame(col)) .subset2(col, k) else col[, k])
      })
      return(if (length(parts)) do.call(paste, c(parts, sep = ", ")) else rep("", n))
    }
    if (is.list(col)) {
      return(vapply(col, function(v) {
        tryCatch(paste(format(v), collapse = ", "), error = function(e) "<unprintable>")
      }, "", USE.NAMES = FALSE))
    }
    text <- tryCatch(as.character(format(col)), error = function(e) NULL)
    if (length(text) != n) text <- tryCatch(as.character(col), error = function(e) NULL)
    if (length(text) != n) text <- rep("<unprintable>", n)
    text[is.na(col) & !is.na(text) & text == "NA"] <- NA_character_
    text
  }

  # Writes `path` through a temporary name, so a reader never sees part of it.
  write_whole <- function(path, write) {
    tmp <- file.path(dirname(path), sprintf(".%s.%d.tmp", basename(path), Sys.getpid()))
    with_private_umask({
      con <- file(tmp, open = "wb")
      tryCatch(write(con), finally = close(con))
    })
    if (!file.rename(tmp, path)) {
      unlink(tmp)
      stop("filebridge: cannot replace ", path)
    }
  }

  write_fixed_column <- function(folder, spec, col) {
    v <- column_numbers(col, spec)
    write_whole(file.path(folder, spec$file), function(con) writeBin(v, con, endian = "little"))
  }

  # Returns whether a cell is NA (the `na` file is written only then).
  write_text_column <- function(folder, spec, col) {
    b <- enc2utf8(column_text(col))
    na <- is.na(b)
    if (any(na)) b[na] <- ""
    offsets <- c(0, cumsum(as.numeric(nchar(b, type = "bytes"))))
    write_whole(file.path(folder, spec$offsets),
                function(con) writeBin(offsets, con, endian = "little"))
    write_whole(file.path(folder, spec$file), function(con) {
      if (offsets[[length(offsets)]] > 0) {
        writeChar(paste0(b, collapse = ""), con, eos = NULL, useBytes = TRUE)
      }
    })
    if (any(na)) write_whole(file.path(folder, spec$na), function(con) writeBin(as.raw(na), con))
    any(na)
  }

  # The snapshot's columns: the row labels first (R's row names, else the row numbers), then
  # the frame's. Each entry: the meta.json column (`spec`) and the R vector.
  snapshot_columns <- function(x, rows = nrow(x)) {
    named_rows <- .row_names_info(x) > 0L
    label <- if (named_rows) attr(x, "row.names") else seq_len(nrow(x))
    values <- c(list(label), lapply(seq_along(x), function(j) {
      v <- .subset2(x, j)
      if (inherits(v, "POSIXlt")) v <- as.POSIXct(v)
      if (rows < NROW(v)) {
        v <- if (is.data.frame(v) || is.matrix(v)) v[seq_len(rows), , drop = FALSE]
             else v[seq_len(rows)]
      }
      v
    }))
    if (rows < length(label)) values[[1L]] <- label[seq_len(rows)]
    labels <- names(x)
    if (is.null(labels)) labels <- paste0("V", seq_along(x))
    unnamed <- is.na(labels) | !nzchar(labels)
    labels[unnamed] <- paste0("V", which(unnamed))
    specs <- lapply(seq_along(values), function(k) {
      s <- column_spec(values[[k]], if (k == 1L) "(row)" else labels[[k - 1L]])
      base <- if (k == 1L) "r" else sprintf("c%d", k - 2L)
      if (k == 1L) {
        s$role <- "label"
        s$dtype <- if (named_rows) "row names" else "row number"
      }
      if (s$storage == "utf8") {
        s$file <- paste0(base, ".utf8")
        s$offsets <- paste0(base, ".off")
        s$na <- paste0(base, ".na")
      } else {
        s$file <- paste0(base, ".", s$storage)
      }
      s$ready <- FALSE
      s
    })
    list(specs = specs, values = values)
  }

  # The first page (head.json, written before meta.json): the first rows of the first columns
  # as table.rows answers them, from a slice of the columns, so its cost does not grow with
  # the rows; the host shows it without asking R.
  TABLE_HEAD_ROWS <- 100L
  TABLE_HEAD_COLUMNS <- 64L
  write_view_head <- function(folder, columns, rows) {
    n <- min(rows, TABLE_HEAD_ROWS)
    width <- min(length(columns$specs), TABLE_HEAD_COLUMNS)
    part <- new.env(parent = emptyenv())
    part$specs <- columns$specs[seq_len(width)]
    part$values <- lapply(columns$values[seq_len(width)], function(v) {
      if (is.data.frame(v) || is.matrix(v)) v[seq_len(n), , drop = FALSE] else v[seq_len(n)]
    })
    part$rows <- n
    part$total <- n
    part$keys <- list()
    part$orders <- list()
    text <- rows_answer(part, list(start = 0, count = n))
    write_whole(file.path(folder, "head.json"), function(con) {
      writeBin(charToRaw(enc2utf8(text)), con)
    })
    list(file = "head.json", rows = n, columns = width)
  }

  write_snapshot_meta <- function(folder, meta) {
    meta$complete <- all(vapply(meta$columns, function(s) isTRUE(s$ready), NA))
    write_whole(file.path(folder, "meta.json"), function(con) {
      writeBin(charToRaw(enc2utf8(to_json(meta))), con)
    })
  }

  # Writes the snapshot of the columns into folder; announce(meta) is called once meta.json is
  # there.
  # Returns whether the rest is being written in the background.
  write_view_table <- function(columns, folder, title, rows, total, announce) {
    began <- now_seconds()
    budget <- max(0, getOption("filebridge.view_blocking_ms", 50)) / 1000
    specs <- columns$specs
    meta <- list(format = "filebridge.table", version = 2L, title = title, rows = rows,
                 total_rows = total, complete = FALSE, live = TRUE, columns = specs)
    head <- tryCatch(write_view_head(folder, columns, rows), error = function(e) NULL)
    if (!is.null(head)) meta$head <- head
    background <- isTRUE(getOption("filebridge.view_background", TRUE))
    # the cheap columns now (as long as the budget lasts), then the rest
    for (k in seq_along(specs)) {
      if (specs[[k]]$storage == "utf8") next
      if (background && now_seconds() - began > budget) break
      write_fixed_column(folder, specs[[k]], columns$values[[k]])
      meta$columns[[k]]$ready <- TRUE
    }
    write_snapshot_meta(folder, meta)
    announce(meta)
    rest <- which(!vapply(meta$columns, function(s) isTRUE(s$ready), NA))
    if (!length(rest)) return(FALSE)
    write_rest <- function() {
      # fixed-width columns first: they take a moment, text takes longer
      fixed <- vapply(meta$columns[rest], function(s) s$storage != "utf8", NA)
      # meta.json lists every column: a wide frame's is rewritten every 0.1 s at most (and
      # before a text column, which is slow); a narrower one's after each column
      written <- now_seconds()
      todo <- c(rest[fixed], rest[!fixed])
      for (k in todo) {
        s <- meta$columns[[k]]
        if (s$storage == "utf8") {
          if (!write_text_column(folder, s, columns$values[[k]])) meta$columns[[k]]$na <- NULL
        } else {
          write_fixed_column(folder, s, columns$values[[k]])
        }
        meta$columns[[k]]$ready <- TRUE
        at <- match(k, todo)
        if (at == length(todo) || length(todo) <= 64L || now_seconds() - written >= 0.1 ||
            meta$columns[[todo[[at + 1L]]]]$storage == "utf8") {
          write_snapshot_meta(folder, meta)
          written <- now_seconds()
        }
      }
    }
    # niced: the writer must not take a core from R answering the page, nor from the host
    if (background && in_background(function() {
      try(tools::psnice(value = 10L), silent = TRUE)
      write_rest()
    })) return(TRUE)
    write_rest()
    FALSE
  }

  # ---- tables: the page's queries, answered from the table R kept ---------------------------
  # table.schema / rows / profile / export / close (docs/protocol-viewers.md, "Table queries")
  # over the columns View() was given, as they were then (R never changes a value in place:
  # a later change makes a new one). Rows are 0-based positions; column 0 is the row labels.

  TABLE_WINDOW <- 2000L
  TABLE_MAX_COLUMNS <- 500L
  TABLE_EXPORT_ROWS <- 1000000L
  TABLE_EXPORT_BYTES <- 64 * 2^20
  TABLE_ORDERS_KEPT <- 4L
  TABLE_TEXT_OPS <- c("contains", "starts_with", "ends_with", "regex")
  TABLE_COMPARE_OPS <- c("=", "!=", "<", "<=", ">", ">=")
  TABLE_OPS <- c(TABLE_COMPARE_OPS, TABLE_TEXT_OPS, "between", "not_between", "is_na", "not_na",
                 "is_empty", "not_empty", "is_true", "is_false", "in", "not_in")
  TABLE_NUMERIC_TYPES <- c("integer", "float", "boolean", "date", "datetime")

  live_tables <- function() {
    if (is.null(state$live_tables)) {
      state$live_tables <- new.env(parent = emptyenv())
      state$live_order <- character(0)
    }
    state$live_tables
  }

  keep_live_table <- function(view_id, columns, rows, total) {
    tables <- live_tables()
    entry <- new.env(parent = emptyenv())
    entry$specs <- lapply(columns$specs, function(s) {
      s[setdiff(names(s), c("file", "offsets", "na", "ready"))]
    })
    entry$values <- columns$values
    entry$rows <- rows
    entry$total <- total
    entry$keys <- list()
    entry$orders <- list()
    assign(view_id, entry, envir = tables)
    state$live_order <- c(setdiff(state$live_order, view_id), view_id)
    while (length(state$live_order) > TABLE_LIVE_VIEWS) {
      rm(list = state$live_order[[1L]], envir = tables)
      state$live_order <- state$live_order[-1L]
    }
  }

  live_table <- function(args) {
    view_id <- text_arg(args, "view")
    if (is.null(view_id)) answer_error("bad_request", "'view' (the view id) is required")
    entry <- get0(view_id, envir = live_tables(), inherits = FALSE)
    if (is.null(entry)) {
      answer_error("not_found", sprintf("this R session no longer keeps the table of view '%s'",
                                        view_id))
    }
    entry
  }

  column_arg <- function(value, width, what) {
    if (!is.numeric(value) || length(value) != 1L || is.na(value) || value != floor(value) ||
        value < 0 || value >= width) {
      answer_error("bad_request", sprintf("%s: column %s is not a column index below %d", what,
                                          paste(format(value), collapse = " "), width))
    }
    as.integer(value)
  }

  clamped_arg <- function(args, name, default, low, high) {
    v <- args[[name]]
    if (is.null(v)) return(default)
    if (!is.numeric(v) || length(v) != 1L || is.na(v) || v != floor(v)) {
      answer_error("bad_request", sprintf("'%s' must be a whole number", name))
    }
    max(low, min(high, v))
  }

  # The sort keys, filters and search of a query, checked (as the host checks them).
  live_query <- function(args, width) {
    sort <- lapply(if (is.list(args$sort)) args$sort else list(), function(key) {
      if (!is.list(key)) answer_error("bad_request", "sort: each key is {\"column\": i, \"descending\": bool}")
      list(column = column_arg(key$column, width, "sort"), descending = isTRUE(key$descending))
    })
    filters <- lapply(if (is.list(args$filters)) args$filters else list(), function(f) {
      if (!is.list(f)) answer_error("bad_request", "filters: each filter is {\"column\": i, \"op\": ...}")
      op <- f$op
      if (!is.character(op) || length(op) != 1L || !op %in% TABLE_OPS) {
        answer_error("bad_request", sprintf("filter op %s is not one of %s",
                                            paste(format(op), collapse = " "),
                                            paste(TABLE_OPS, collapse = ", ")))
      }
      if (!is.null(f$values) && !is.list(f$values)) {
        answer_error("bad_request", "filter 'values' must be a list")
      }
      if (op %in% c("between", "not_between") && (is.null(f$low) || is.null(f$high))) {
        answer_error("bad_request", sprintf("filter %s needs 'low' and 'high'", op))
      }
      if (op %in% c(TABLE_COMPARE_OPS, TABLE_TEXT_OPS) && is.null(f$value)) {
        answer_error("bad_request", sprintf("filter %s needs a 'value'", op))
      }
      if (op == "regex") {
        problem <- tryCatch({ grepl(as.character(f$value), "", perl = TRUE); NULL },
                            error = function(e) conditionMessage(e),
                            warning = function(w) conditionMessage(w))
        if (!is.null(problem)) {
          answer_error("bad_request", sprintf("filter regex '%s': %s", f$value,
                                              trimws(gsub("\\s+", " ", problem))))
        }
      }
      list(column = column_arg(f$column, width, "filter"), op = op, value = f$value,
           low = f$low, high = f$high,
           values = vapply(f$values, function(v) paste(as.character(v), collapse = ""), ""),
           case_sensitive = isTRUE(f$case_sensitive))
    })
    search <- args$search
    if (is.null(search)) search <- ""
    if (!is.character(search) || length(search) != 1L) {
      answer_error("bad_request", "search must be text")
    }
    list(sort = sort, filters = filters, search = if (is.na(search)) "" else search)
  }

  # One column as the queries use it, made once a view: `spec`, `key` (numbers, codes or text,
  # in the order the column sorts), `na` and `nan` (logical, every row).
  live_key <- function(entry, i) {
    found <- entry$keys[[as.character(i)]]
    if (!is.null(found)) return(found)
    spec <- entry$specs[[i + 1L]]
    v <- entry$values[[i + 1L]]
    key <- if (spec$storage == "utf8") column_text(v)
           else if (spec$storage == "i64") as.double(v)
           else column_numbers(v, spec)
    # `na` and `nan` over every row only when a sort, filter or profile asks for them: a
    # window's cells need none of it
    found <- new.env(parent = emptyenv())
    found$spec <- spec
    found$key <- key
    delayedAssign("nan", if (is.double(key)) is.nan(key) else logical(length(key)),
                  assign.env = found)
    delayedAssign("na", is.na(key) & !found$nan, assign.env = found)
    entry$keys[[as.character(i)]] <- found
    found
  }

  # Numbers in the fewest of 15, 16 or 17 significant digits that read back as the same double.
  exact_number_text <- function(x) {
    text <- sprintf("%.15g", x)
    for (digits in 16:17) {
      off <- which(is.finite(x) & suppressWarnings(as.numeric(text)) != x)
      if (!length(off)) break
      text[off] <- sprintf(paste0("%.", digits, "g"), x[off])
    }
    text
  }

  json_numbers <- function(x) structure(json_array(exact_number_text(x)), filebridge_json = TRUE)
  json_number <- function(x) structure(exact_number_text(x), filebridge_json = TRUE)

  # A float's shown text (filters on text, export) as the host shows it: "2.0", "0.1", "1e-05".
  float_text <- function(x) {
    text <- exact_number_text(x)
    whole <- is.finite(x) & !grepl("[.e]", text)
    text[whole] <- paste0(text[whole], ".0")
    text[is.nan(x)] <- "NaN"
    text[!is.na(x) & x == Inf] <- "Inf"
    text[!is.na(x) & x == -Inf] <- "-Inf"
    text
  }

  live_text <- function(entry, i, rows = NULL) {
    col <- live_key(entry, i)
    key <- if (is.null(rows)) col$key else col$key[rows]
    spec <- col$spec
    text <- switch(spec$type,
                   string = , other = key,
                   float = float_text(key),
                   integer = as.character(key),
                   boolean = c("false", "true")[key + 1L],
                   date = format(structure(key, class = "Date"), "%Y-%m-%d"),
                   datetime = datetime_text(key, spec$tz),
                   category = unlist(spec$levels, use.names = FALSE)[key],
                   as.character(key))
    if (spec$storage == "i64") {
      v <- entry$values[[i + 1L]]
      text <- as.character(if (is.null(rows)) v else v[rows])
    }
    text[window_na(key)] <- NA_character_
    text
  }

  window_na <- function(k) if (is.double(k)) is.na(k) & !is.nan(k) else is.na(k)

  # Seconds since 1970 as "2024-08-25 13:45:07" in zone tz, with ".25" where there are fractions.
  datetime_text <- function(seconds, tz) {
    text <- suppressWarnings(format(.POSIXct(seconds, tz = tz), "%Y-%m-%d %H:%M:%S"))
    micro <- round((seconds - floor(seconds)) * 1e6)
    fractions <- which(!is.na(micro) & micro > 0 & micro < 1e6)
    if (length(fractions)) {
      text[fractions] <- paste0(text[fractions], ".",
                                sub("0+$", "", sprintf("%06.0f", micro[fractions])))
    }
    text
  }

  # The number (days, seconds) a filter's value stands for in a column of this type.
  filter_bound <- function(spec, value) {
    text <- paste(as.character(value), collapse = "")
    bad <- function(what) {
      answer_error("bad_request", sprintf("'%s' is not a %s", text, what))
    }
    if (spec$type == "date") {
      day <- tryCatch(as.Date(substr(trimws(text), 1L, 10L), format = "%Y-%m-%d"),
                      error = function(e) NA)
      if (is.na(day)) bad("date (2024-08-25 or 2024-08-25 13:45)")
      return(as.numeric(day))
    }
    if (spec$type == "datetime") {
      moment <- tryCatch(as.POSIXct(sub("T", " ", trimws(text), fixed = TRUE), tz = spec$tz),
                         error = function(e) NA)
      if (is.na(moment)) bad("datetime (2024-08-25 or 2024-08-25 13:45)")
      return(as.numeric(moment))
    }
    if (is.logical(value)) return(as.numeric(value))
    if (spec$type == "boolean" && tolower(text) %in% c("true", "false")) {
      return(as.numeric(tolower(text) == "true"))
    }
    number <- suppressWarnings(as.numeric(text))
    if (is.na(number) && !identical(text, "NaN")) bad("number")
    number
  }

  # String comparison by code points, as the host compares (R's own follows the locale).
  by_code_points <- function(expr) {
    old <- Sys.getlocale("LC_COLLATE")
    if (!identical(old, "C")) {
      Sys.setlocale("LC_COLLATE", "C")
      on.exit(Sys.setlocale("LC_COLLATE", old))
    }
    force(expr)
  }

  text_test <- function(f, text) {
    op <- f$op
    hit <- function(x) !is.na(x) & x
    if (op %in% TABLE_TEXT_OPS) {
      needle <- paste(as.character(f$value), collapse = "")
      if (op == "regex") return(hit(grepl(needle, text, perl = TRUE, ignore.case = !f$case_sensitive)))
      if (!f$case_sensitive) {
        needle <- tolower(needle)
        text <- tolower(text)
      }
      return(hit(switch(op, contains = grepl(needle, text, fixed = TRUE),
                        starts_with = startsWith(text, needle),
                        ends_with = endsWith(text, needle))))
    }
    if (op == "in") return(hit(text %in% f$values))
    if (op == "not_in") return(!(text %in% f$values))
    if (op == "is_empty") return(hit(text == ""))
    if (op == "not_empty") return(hit(text != ""))
    if (op %in% TABLE_COMPARE_OPS) {
      value <- paste(as.character(f$value), collapse = "")
      return(hit(by_code_points(switch(op, "=" = text == value, "!=" = text != value,
                                       "<" = text < value, "<=" = text <= value,
                                       ">" = text > value, ">=" = text >= value))))
    }
    if (op %in% c("between", "not_between")) {
      low <- paste(as.character(f$low), collapse = "")
      high <- paste(as.character(f$high), collapse = "")
      inside <- hit(by_code_points(text >= low & text <= high))
      return(if (op == "between") inside else !inside)
    }
    answer_error("bad_request", sprintf("filter %s does not apply to a text column", op))
  }

  filter_mask <- function(entry, f) {
    col <- live_key(entry, f$column)
    spec <- col$spec
    op <- f$op
    present <- !col$na
    if (op %in% c("is_na", "not_na")) {
      missing <- col$na | col$nan
      return(if (op == "is_na") missing else !missing)
    }
    if (spec$type %in% TABLE_NUMERIC_TYPES &&
        !op %in% c(TABLE_TEXT_OPS, "in", "not_in", "is_empty", "not_empty")) {
      k <- col$key
      hit <- function(x) present & !is.na(x) & x
      if (op %in% c("is_true", "is_false")) return(hit(k == if (op == "is_true") 1 else 0))
      if (op %in% c("between", "not_between")) {
        inside <- hit(k >= filter_bound(spec, f$low) & k <= filter_bound(spec, f$high))
        return(if (op == "between") inside else present & !inside & !col$nan)
      }
      if (op %in% TABLE_COMPARE_OPS) {
        bound <- filter_bound(spec, f$value)
        if (op == "!=") return(present & (col$nan | (!is.na(k) & k != bound)))
        return(hit(switch(op, "=" = k == bound, "<" = k < bound, "<=" = k <= bound,
                          ">" = k > bound, ">=" = k >= bound)))
      }
      answer_error("bad_request", sprintf("filter %s does not apply to a %s column", op,
                                          spec$type))
    }
    if (spec$type == "category") {
      chosen <- which(text_test(f, unlist(spec$levels, use.names = FALSE)))
      return(present & col$key %in% chosen)
    }
    distinct <- distinct_text(entry, f$column)
    present & text_test(f, distinct$values)[distinct$at]
  }

  # A text column as its distinct values and each row's index into them, made once a view: a
  # text filter then tests each value once (a column of few values: a few tests, not a
  # million), and the rows follow by indexing.
  distinct_text <- function(entry, i) {
    name <- paste0("distinct", i)
    found <- entry$keys[[name]]
    if (!is.null(found)) return(found)
    col <- live_key(entry, i)
    text <- if (col$spec$storage == "utf8") col$key else live_text(entry, i)
    values <- unique(text)
    found <- list(values = values, at = match(text, values))
    entry$keys[[name]] <- found
    found
  }

  search_mask <- function(entry, text) {
    needle <- tolower(text)
    number <- suppressWarnings(as.numeric(gsub(",", "", trimws(text), fixed = TRUE)))
    mask <- logical(entry$rows)
    for (i in seq_along(entry$specs) - 1L) {
      col <- live_key(entry, i)
      type <- col$spec$type
      if (col$spec$storage == "utf8") {
        distinct <- distinct_text(entry, i)
        hits <- grepl(needle, tolower(distinct$values), fixed = TRUE)
        mask <- mask | (!col$na & hits[distinct$at])
      } else if (type == "category") {
        chosen <- which(grepl(needle, tolower(unlist(col$spec$levels, use.names = FALSE)),
                              fixed = TRUE))
        mask <- mask | (!col$na & col$key %in% chosen)
      } else if (is.finite(number) && type %in% c("integer", "float")) {
        mask <- mask | (!col$na & !is.na(col$key) & col$key == number)
      }
    }
    mask
  }

  # The rows (1-based) after the filters, in sort order; NULL for all rows unsorted. Numbers
  # sort by value, then NaN, then NA (descending reverses only the values); ties keep the
  # rows' order (radix sorting is stable; text by bytes, which is code point order in UTF-8).
  live_order <- function(entry, query) {
    if (!length(query$sort) && !length(query$filters) && !nzchar(query$search)) return(NULL)
    id <- to_json(query)
    found <- entry$orders[[id]]
    if (!is.null(found)) return(found)
    selected <- if (length(query$filters) || nzchar(query$search)) {
      mask <- rep(TRUE, entry$rows)
      for (f in query$filters) mask <- mask & filter_mask(entry, f)
      if (nzchar(query$search)) mask <- mask & search_mask(entry, query$search)
      which(mask)
    } else seq_len(entry$rows)
    if (length(query$sort) && length(selected)) {
      whole <- length(selected) == entry$rows  # no filter: the columns as they are
      keys <- list()
      decreasing <- logical(0)
      for (s in query$sort) {
        col <- live_key(entry, s$column)
        k <- col$key
        if (any(col$na) || any(col$nan)) {
          group <- integer(entry$rows)
          group[col$nan] <- 1L
          group[col$na] <- 2L
          k[group > 0L] <- if (is.character(k)) "" else 0
          keys <- c(keys, list(if (whole) group else group[selected]))
          decreasing <- c(decreasing, FALSE)
        }
        keys <- c(keys, list(if (whole) k else k[selected]))
        decreasing <- c(decreasing, s$descending)
      }
      selected <- selected[do.call(order, c(keys, list(method = "radix",
                                                       decreasing = decreasing)))]
    }
    entry$orders[[id]] <- selected
    if (length(entry$orders) > TABLE_ORDERS_KEPT) entry$orders <- entry$orders[-1L]
    selected
  }

  # A column's cells at rows, as JSON (the table.rows answer's cells).
  live_cells <- function(entry, i, rows) {
    col <- live_key(entry, i)
    spec <- col$spec
    k <- col$key[rows]
    na <- window_na(k)
    out <- switch(spec$type,
                  float = {
                    text <- exact_number_text(k)
                    text[is.nan(k)] <- "\"NaN\""
                    text[!is.na(k) & k == Inf] <- "\"Inf\""
                    text[!is.na(k) & k == -Inf] <- "\"-Inf\""
                    text
                  },
                  integer = {
                    text <- live_text(entry, i, rows)
                    big <- !is.na(k) & abs(k) >= 2^53
                    text[big] <- json_strings(text[big])
                    text
                  },
                  boolean = c("false", "true")[k + 1L],
                  json_strings(live_text(entry, i, rows)))
    out[na] <- "null"
    out
  }

  json_array <- function(parts) paste0("[", paste(parts, collapse = ","), "]")

  live_columns_arg <- function(args, width) {
    asked <- args$columns
    if (is.null(asked)) return(seq_len(min(width, TABLE_MAX_COLUMNS)) - 1L)
    if (!is.list(asked) || length(asked) > TABLE_MAX_COLUMNS) {
      answer_error("bad_request", sprintf("columns: a list of at most %d column indexes",
                                          TABLE_MAX_COLUMNS))
    }
    vapply(asked, column_arg, 0L, width = width, what = "columns")
  }

  live_window <- function(entry, args, default_count, max_count) {
    query <- live_query(args, length(entry$specs))
    start <- clamped_arg(args, "start", 0, 0, 2^53)
    count <- clamped_arg(args, "count", default_count, 0, max_count)
    order <- live_order(entry, query)
    total <- if (is.null(order)) entry$rows else length(order)
    stop <- min(total, start + count)
    positions <- if (stop > start) seq.int(start + 1, stop) else integer(0)
    list(total = total, start = start, count = count,
         rows = if (is.null(order)) positions else order[positions])
  }

  # `positions`: the rows the host chose (it sorted and filtered the snapshot itself), as
  # they are; R answers only their cells.
  chosen_rows <- function(entry, positions) {
    ok <- is.list(positions) && length(positions) <= TABLE_WINDOW &&
      all(vapply(positions, function(p) is.numeric(p) && length(p) == 1L && !is.na(p) &&
                   p == floor(p) && p >= 0 && p < entry$rows, NA))
    if (!ok) {
      answer_error("bad_request", sprintf("positions: a list of at most %d row positions below %d",
                                          TABLE_WINDOW, entry$rows))
    }
    list(total = entry$rows, start = 0, count = length(positions),
         rows = as.integer(unlist(positions, use.names = FALSE)) + 1L)
  }

  table_schema <- function(args) {
    entry <- live_table(args)
    list(rows = entry$rows, total_rows = entry$total, columns = entry$specs)
  }

  table_rows <- function(args) rows_answer(live_table(args), args)

  rows_answer <- function(entry, args) {
    columns <- live_columns_arg(args, length(entry$specs))
    window <- if (is.null(args$positions)) live_window(entry, args, 100, TABLE_WINDOW)
              else chosen_rows(entry, args$positions)
    cells <- vapply(columns, function(i) json_array(live_cells(entry, i, window$rows)), "")
    structure(sprintf('{"total":%.0f,"start":%.0f,"rows":%s,"columns":%s,"cells":%s}',
                      window$total, window$start, json_array(sprintf("%.0f", window$rows - 1)),
                      json_array(as.character(columns)), json_array(cells)),
              filebridge_json = TRUE)
  }

  # The `top` most frequent values, ties in the order first seen (as the host counts them).
  frequent_values <- function(values, counts, top) {
    keep <- counts > 0
    values <- values[keep]
    counts <- counts[keep]
    shown <- utils::head(order(-counts), top)
    list(values = as.list(values[shown]), counts = as.list(as.integer(counts[shown])),
         other = as.integer(sum(counts) - sum(counts[shown])))
  }

  table_profile <- function(args) {
    entry <- live_table(args)
    width <- length(entry$specs)
    i <- column_arg(args$column, width, "profile")
    bins <- clamped_arg(args, "bins", 20, 1, 200)
    top <- clamped_arg(args, "top", 10, 1, 100)
    order <- live_order(entry, live_query(args, width))
    pick <- function(v) if (is.null(order)) v else v[order]  # no filter: no copy
    col <- live_key(entry, i)
    spec <- col$spec
    na <- pick(col$na)
    out <- list(column = i, rows = length(na), na = sum(na), nan = 0L, inf = 0L)
    if (spec$storage == "utf8") {
      text <- pick(col$key)[!na]
      seen <- unique(text)
      counts <- tabulate(match(text, seen), length(seen))
      return(c(out, list(empty = sum(text == ""), distinct = length(seen),
                         frequent = frequent_values(seen, counts, top))))
    }
    k <- pick(col$key)
    if (any(na)) k <- k[!na]
    if (spec$type == "category") {
      levels <- unlist(spec$levels, use.names = FALSE)
      counts <- tabulate(k, length(levels))
      return(c(out, list(distinct = sum(counts > 0),
                         frequent = frequent_values(levels, counts, top))))
    }
    if (spec$type == "boolean") {
      trues <- sum(k == 1L)
      falses <- length(k) - trues
      counts <- c(trues, falses)
      return(c(out, list(stats = list(true = trues, false = falses),
                         distinct = sum(counts > 0),
                         frequent = frequent_values(c("true", "false"), counts, top))))
    }
    if (!is.double(k)) k <- as.double(k)
    finite <- is.finite(k)
    finite <- if (all(finite)) k else {
      out$nan <- sum(is.nan(k))
      out$inf <- sum(is.infinite(k))
      k[finite]
    }
    if (length(finite)) {
      low <- min(finite)
      high <- max(finite)
      stats <- list(min = low, max = high, median = stats::median(finite))
      if (spec$type %in% c("integer", "float")) {
        stats$mean <- mean(finite)
        stats$std <- if (length(finite) > 1L) stats::sd(finite) else 0
        stats <- lapply(stats, json_number)
      } else if (spec$type == "date") {
        stats <- lapply(stats, function(d) format(structure(floor(d), class = "Date")))
      } else {
        stats <- lapply(stats, function(s) datetime_text(s, spec$tz))
      }
      out$stats <- stats
      if (low == high) {
        low <- low - 0.5
        high <- high + 0.5
      }
      edges <- low + (high - low) / bins * (0:bins)
      edges[[bins + 1L]] <- high
      slots <- findInterval(finite, edges, rightmost.closed = TRUE, all.inside = TRUE)
      out$histogram <- list(edges = json_numbers(edges),
                            counts = as.list(tabulate(slots, bins)))
    }
    out
  }

  csv_fields <- function(text, format) {
    text[is.na(text)] <- ""
    if (format == "tsv") return(gsub("[\t\r\n]", " ", text))
    quoted <- grepl("[\",\r\n]", text)
    text[quoted] <- paste0("\"", gsub("\"", "\"\"", text[quoted], fixed = TRUE), "\"")
    text
  }

  table_export <- function(args) {
    entry <- live_table(args)
    format <- if (is.null(args$format)) "csv" else args$format
    if (!identical(format, "csv") && !identical(format, "tsv")) {
      answer_error("bad_request", sprintf("export format '%s' is not csv or tsv",
                                          paste(format(format), collapse = " ")))
    }
    columns <- live_columns_arg(args, length(entry$specs))
    window <- live_window(entry, args, TABLE_EXPORT_ROWS, TABLE_EXPORT_ROWS)
    sep <- if (format == "csv") "," else "\t"
    names <- vapply(entry$specs[columns + 1L], function(s) s$name, "")
    header <- paste(csv_fields(names, format), collapse = sep)
    lines <- if (length(window$rows) && length(columns)) {
      do.call(paste, c(lapply(columns, function(i) {
        csv_fields(live_text(entry, i, window$rows), format)
      }), list(sep = sep)))
    } else character(0)
    truncated <- window$start + window$count < window$total && window$count == TABLE_EXPORT_ROWS
    sizes <- cumsum(as.numeric(nchar(lines, type = "bytes")) + 1)
    if (length(sizes) && sizes[[length(sizes)]] > TABLE_EXPORT_BYTES) {
      lines <- lines[seq_len(which(sizes > TABLE_EXPORT_BYTES)[[1L]])]
      truncated <- TRUE
    }
    list(text = paste0(paste(c(header, lines), collapse = "\n"), "\n"), rows = length(lines),
         truncated = truncated)
  }

  # The queries run interpreted: R's JIT would compile these functions at their first calls
  # (a few hundred ms of the page's first request), and their work is in vectorised calls.
  uncompiled <- function(handler) {
    function(args) {
      if (requireNamespace("compiler", quietly = TRUE)) {
        jit <- compiler::enableJIT(0L)
        on.exit(compiler::enableJIT(jit))
      }
      handler(args)
    }
  }

  table_close <- function(args) {
    view_id <- text_arg(args, "view")
    if (!is.null(view_id) && exists(view_id, envir = live_tables(), inherits = FALSE)) {
      rm(list = view_id, envir = live_tables())
      state$live_order <- setdiff(state$live_order, view_id)
    }
    structure("{}", filebridge_json = TRUE)
  }

  # Errors are caught by the caller (describe_safely), not here: a tryCatch() here would keep
  # a reference to x past the call (see describe_safely).
  short_text <- function(x, width = 100) {
    text <- {
      if (is.function(x)) {
        paste(deparse(args(x), width.cutoff = 200L)[1], collapse = "")
      } else if (is.atomic(x) && length(x) <= 1000) {
        # for a classed vector (Date, factor, a package's class) its format method
        paste(format(if (length(x) > 100) utils::head(x, 100) else x), collapse = " ")
      } else if (is.data.frame(x)) {
        sprintf("%d obs. of %d variables", nrow(x), ncol(x))
      } else if (is.list(x) && !is.object(x)) {
        sprintf("List of %d", length(x))  # what str() says, without its cost
      } else if (is.environment(x)) {
        format(x)
      } else {
        paste(utils::capture.output(utils::str(x, max.level = 0, give.attr = FALSE,
                                                vec.len = 2))[1], collapse = "")
      }
    }
    text <- gsub("[\r\n\t]+", " ", text)
    truncated <- nchar(text, type = "chars") > width
    if (truncated) text <- paste0(substr(text, 1, width - 1), "\u2026")
    list(text = text, truncated = truncated)
  }

  kind_of <- function(x) {
    if (is.null(x)) return("empty")
    if (is.data.frame(x) || is.matrix(x)) return("table")
    if (is.function(x)) return("function")
    if (is.environment(x)) return("map")
    if (inherits(x, "connection")) return("connection")
    if (is.factor(x)) return("collection")
    if (is.list(x)) return(if (!is.null(names(x))) "map" else "collection")
    if (is.logical(x)) return(if (length(x) == 1) "boolean" else "collection")
    if (is.numeric(x) || is.complex(x)) {
      return(if (length(x) == 1 && !is.object(x)) "number" else "collection")
    }
    if (is.character(x)) return(if (length(x) == 1) "string" else "collection")
    if (is.raw(x)) return("bytes")
    if (isS4(x) || is.object(x)) return("class")
    "other"
  }

  display_type <- function(x) {
    cls <- class(x)[1]
    if (is.data.frame(x)) return(sprintf("%s [%d x %d]", cls, nrow(x), ncol(x)))
    d <- dim(x)
    if (!is.null(d)) return(sprintf("%s [%s]", cls, paste(d, collapse = " x ")))
    if (is.function(x) || is.environment(x) || is.null(x)) return(cls)
    sprintf("%s [%d]", cls, length(x))
  }

  # What a snapshot may cost: object.size() walks every element of a list or character
  # vector, so by default it runs only where it is O(1) (numeric, logical, raw vectors).
  cheap_size <- function(x) {
    if (isTRUE(getOption("filebridge.object_size", FALSE)) ||
        (is.atomic(x) && !is.character(x) && !is.object(x))) {
      size <- as.numeric(utils::object.size(x))
      return(if (size <= .Machine$integer.max) as.integer(size) else size)
    }
    NULL
  }

  # ---- reading bindings without running them -----------------------------------------------

  # get() and mget() force a promise (delayedAssign, lazyLoad) and run an active binding. The
  # internal getVarsFromFrame(force = FALSE), which tools::makeLazyLoadDB is built on, hands
  # back the promise object itself. Whether that promise has been forced shows in the first
  # flags word serialize() writes for it: an unforced one still carries its environment (the
  # tag bit). The probe serializes into a non-blocking fifo, so a forced promise holding a large
  # value costs at most one pipe buffer, and a refhook stops at the first environment.
  probe_fifo <- function() {
    if (!is.null(state$probe) && state$probe_pid == Sys.getpid()) return(state$probe)
    path <- tempfile("filebridge-probe-")
    state$probe <- tryCatch(with_private_umask(fifo(path, open = "w+b", blocking = FALSE)),
                            error = function(e) NULL)
    unlink(path)  # the open descriptor is all the probe needs
    state$probe_pid <- Sys.getpid()
    state$probe
  }

  close_probe <- function() {
    if (!is.null(state$probe) && state$probe_pid == Sys.getpid()) {
      try(close(state$probe), silent = TRUE)
    }
    state$probe <- NULL
  }

  read_available <- function(con, n) tryCatch(readBin(con, "raw", n), error = function(e) raw(0))

  # holder: a one-element list holding the promise (a list keeps it from being evaluated)
  promise_forced <- function(holder) {
    con <- probe_fifo()
    if (is.null(con)) return(FALSE)
    # version 3 writes a compact sequence (1:1e9) as itself; version 2 would expand it first
    tryCatch(serialize(holder, con, xdr = TRUE, version = 3L, refhook = function(e) stop()),
             error = function(e) NULL)
    head <- read_available(con, 128L)
    while (length(read_available(con, 65536L))) NULL
    # the header (14 bytes, then the native encoding's name and its length), the list's flags
    # and length, then the promise's flags
    if (length(head) < 18L) return(FALSE)
    at <- 18L + readBin(head[15:18], "integer", size = 4L, endian = "big") + 8L
    if (length(head) < at + 4L) return(FALSE)
    flags <- readBin(head[(at + 1L):(at + 4L)], "integer", size = 4L, endian = "big")
    bitwAnd(flags, 255L) == 5L && bitwAnd(flags, 1024L) == 0L
  }

  # Each binding's status: "value", "active" (an active binding, never run) or "promise" (a
  # promise nobody has forced yet). Values are then read with get(), which forces nothing
  # here.
  read_bindings <- function(names, env) {
    status <- rep("value", length(names))
    status[vapply(names, bindingIsActive, NA, env = env, USE.NAMES = FALSE)] <- "active"
    passive <- which(status == "value")
    raw_values <- .Internal(getVarsFromFrame(names[passive], env, FALSE))
    promises <- which(vapply(raw_values, typeof, "", USE.NAMES = FALSE) == "promise")
    for (j in promises) {
      if (!promise_forced(raw_values[j])) status[passive[j]] <- "promise"
    }
    # R counts a value held by a list as shared until the list lets it go, and would copy it
    # at the user's next change: a 10^8 vector changed after each prompt, 800 MB each time
    raw_values[] <- list(NULL)
    status
  }

  # An entry with no value to show: an unread binding, or one whose description failed.
  bare_entry <- function(name, display_value, display_type, kind, truncated, now,
                         evaluate_name = name) {
    list(access_key = name, display_name = name, display_value = display_value,
         display_type = display_type, type_info = display_type, kind = kind, length = NULL,
         shape = NULL, size = NULL, has_children = FALSE, children_kind = NULL,
         named_children = 0L, indexed_children = 0L, has_viewer = FALSE,
         is_truncated = truncated, not_described = NULL, updated_time = now,
         evaluate_name = evaluate_name)
  }

  not_read <- list(
    active = list(display_value = "<active binding: not run>", display_type = "active binding"),
    promise = list(display_value = "<promise: not evaluated>", display_type = "promise"))

  # The expression that gives a top-level variable back: its name, backquoted when needed.
  top_level_expr <- function(name) {
    if (make.names(name) == name) name else encodeString(name, quote = "`")
  }

  # What a value's children are: "named" (an environment's bindings, a list's or data
  # frame's named elements), "indexed" (an unnamed list's elements) or NULL (none).
  children_kind_of <- function(x) {
    if (is.environment(x)) return("named")
    if (!is.list(x)) return(NULL)
    if (is.null(names(x))) "indexed" else "named"
  }

  describe_variable <- function(name, status, x, now, evaluate_name = top_level_expr(name)) {
    if (status != "value") {
      shown <- not_read[[status]]
      return(bare_entry(name, shown$display_value, shown$display_type, "lazy", FALSE, now,
                        evaluate_name))
    }
    limit <- getOption("filebridge.object_length_limit", 2000)
    len <- length(x)
    shape <- if (is.data.frame(x)) c(nrow(x), ncol(x)) else if (!is.null(dim(x))) dim(x) else len
    # integers where they fit: a double such as 1e5 would be written as 1e+05
    shape <- if (all(shape <= .Machine$integer.max)) as.integer(shape) else as.numeric(shape)
    value <- if (!is.na(len) && len > limit && !is.data.frame(x) && !is.environment(x)) {
      list(text = sprintf("%s of length %d", class(x)[1], len), truncated = TRUE)
    } else {
      short_text(x)
    }
    has_children <- (is.list(x) || is.environment(x)) && !is.na(len) && len > 0
    children_kind <- if (has_children) children_kind_of(x)
    list(access_key = name, display_name = name, display_value = value$text,
         display_type = display_type(x), type_info = paste(class(x), collapse = ", "),
         kind = kind_of(x), length = len, shape = as.list(shape),
         size = cheap_size(x), has_children = has_children, children_kind = children_kind,
         named_children = if (identical(children_kind, "named")) len else 0L,
         indexed_children = if (identical(children_kind, "indexed")) len else 0L,
         has_viewer = is.data.frame(x) || is.matrix(x) || is.list(x) || is.function(x) ||
           (is.atomic(x) && length(x) > 1),
         is_truncated = value$truncated, not_described = NULL, updated_time = now,
         evaluate_name = evaluate_name)
  }

  # A description is kept with a mark of the value it describes, to be used again while the
  # value stays the same. A short vector or a function is held: R copies a value the worker
  # holds before any change, so the same address means the same value. A plain list is not
  # held (its elements may be large, and holding them would make the user's next change to one
  # a full copy): its description depends only on its length and whether it has names, which
  # are checked with the address. Other values (environments, objects, long vectors) can change
  # in place or cost too much to hold: they are described again each time.
  # an R without the internal keeps no descriptions (a mark of NULL never matches)
  address_of <- if (is.null(tryCatch(.Internal(address(1)), error = function(e) NULL))) {
    function(x) NULL
  } else {
    function(x) .Internal(address(x))
  }

  keep_mark <- function(x, limit) {
    if (runs_user_code(x)) return(NULL)
    if ((is.atomic(x) && length(x) <= limit && !isS4(x)) || is.function(x)) {
      return(list(address = address_of(x), value = x))
    }
    if (is.list(x) && !is.object(x)) {
      return(list(address = address_of(x), length = length(x),
                  named = !is.null(names(x))))
    }
    NULL
  }

  signature_of <- function(v) {
    paste(v$display_type, v$display_value, v$type_info, v$length, v$kind, v$children_kind,
          sep = "\r")
  }

  # The snapshot's variables as JSON objects, a field at a time for all of them (to_json() on
  # each costs about 80 us a variable). Each argument is a vector of JSON texts, one per
  # variable, or a single text for all; updated_time is numbers.
  variable_objects <- function(access_key, display_name, display_value, display_type,
                               type_info, kind, length, shape, size, has_children,
                               children_kind, named_children, indexed_children, has_viewer,
                               is_truncated, not_described, updated_time, evaluate_name) {
    sprintf(paste0(
      '{"access_key":%s,"display_name":%s,"display_value":%s,"display_type":%s,',
      '"type_info":%s,"kind":%s,"length":%s,"shape":%s,"size":%s,"has_children":%s,',
      '"children_kind":%s,"named_children":%s,"indexed_children":%s,"has_viewer":%s,',
      '"is_truncated":%s,"not_described":%s,"updated_time":%.0f,"evaluate_name":%s}'),
      access_key, display_name, display_value, display_type, type_info, kind, length, shape,
      size, has_children, children_kind, named_children, indexed_children, has_viewer,
      is_truncated, not_described, updated_time, evaluate_name)
  }

  variables_json <- function(vars) {
    if (!length(vars)) return(character(0))
    field <- function(key, type) vapply(vars, .subset2, type, key, USE.NAMES = FALSE)
    text <- function(key) json_strings(field(key, ""))
    flag <- function(key) c("false", "true")[field(key, NA) + 1L]
    maybe <- function(key, encode) {
      vapply(vars, function(v) if (is.null(v[[key]])) "null" else encode(v[[key]]), "",
             USE.NAMES = FALSE)
    }
    number <- function(x) if (is.na(x)) "null" else sprintf("%.0f", x)
    variable_objects(
      text("access_key"), text("display_name"), text("display_value"), text("display_type"),
      text("type_info"), text("kind"), maybe("length", number),
      maybe("shape", function(x) {
        paste0("[", paste(sprintf("%.0f", unlist(x)), collapse = ","), "]")
      }),
      maybe("size", number), flag("has_children"), maybe("children_kind", json_strings),
      maybe("named_children", number), maybe("indexed_children", number),
      flag("has_viewer"), flag("is_truncated"), maybe("not_described", json_strings),
      field("updated_time", 0), text("evaluate_name"))
  }

  # ---- time limits on the user code the pane runs ------------------------------------------
  # Describing a value whose class has methods (S3, S4, R5: format, length, dim, names, str,
  # print, as.data.frame) runs the user's code. Each such description runs under a limit
  # (filebridge.value_limit_ms, 50): setTimeLimit(elapsed =) stops R-level code at its next
  # check, and a watchdog process sends this R a SIGINT at the limit, which also ends calls
  # setTimeLimit does not reach (Sys.sleep, blocking reads: R checks for interrupts there).
  # The watchdog is a bash loop reading "arm SECONDS" and "disarm" from a fifo and answering
  # "ok" or "fired" on another, so an interrupt never arrives after its value is done unseen.
  # A value that went over is remembered (by address and, after two values, by class) and its
  # code is not run again until `retry`.

  WATCHDOG_SCRIPT <- paste(
    'exec 3<"$1" 4>"$2"',
    'while read -r word rest <&3; do',
    '  if [ "$word" = arm ]; then',
    '    if read -r -t "$rest" word rest <&3; then echo ok >&4',
    '    else kill -INT "$3" 2>/dev/null; read -r word rest <&3; echo fired >&4; fi',
    '  elif [ "$word" = ping ]; then echo pong >&4; fi',
    'done', sep = "\n")

  value_limit <- function() max(1, getOption("filebridge.value_limit_ms", 50)) / 1000
  request_limit <- function() max(10, getOption("filebridge.request_limit_ms", 1000)) / 1000

  # The watchdog of this process, started at first use; NULL where it cannot run (no bash or
  # mkfifo, Windows), and then only setTimeLimit() limits the values' code.
  watchdog <- function() {
    dog <- state$watchdog
    if (!is.null(dog) && identical(dog$pid, Sys.getpid())) return(if (isTRUE(dog$ok)) dog)
    state$watchdog <- list(pid = Sys.getpid(), ok = FALSE)
    if (.Platform$OS.type != "unix" || !nzchar(Sys.which("bash")) ||
        !nzchar(Sys.which("mkfifo"))) return(NULL)
    folder <- tempfile("filebridge-watchdog-")
    made <- tryCatch(with_private_umask({
      dir.create(folder, mode = "0700")
      paths <- file.path(folder, c("arm", "ack"))
      system2("mkfifo", shQuote(paths)) == 0L
    }), error = function(e) FALSE)
    if (!isTRUE(made)) return(NULL)
    paths <- file.path(folder, c("arm", "ack"))
    launched <- tryCatch(system2("bash", c("-c", shQuote(WATCHDOG_SCRIPT), "filebridge-watchdog",
                                           shQuote(paths), Sys.getpid()), wait = FALSE),
                         error = function(e) 1L)
    if (!identical(launched, 0L)) return(NULL)
    arm <- fifo(paths[1], open = "w+", blocking = FALSE)
    ack <- fifo(paths[2], open = "r+", blocking = FALSE)
    dog <- list(pid = Sys.getpid(), ok = TRUE, arm = arm, ack = ack)
    state$watchdog <- dog
    # the first answer says the watchdog has opened both; the names are no longer needed
    if (!identical(watchdog_say(dog, "ping", 5), "pong")) {
      close_watchdog()
      return(NULL)
    }
    unlink(folder, recursive = TRUE)
    dog
  }

  # Sends a line, returns the answer (NULL, and the watchdog is given up, after `wait` s).
  watchdog_say <- function(dog, line, wait = 1) {
    writeLines(line, dog$arm)
    flush(dog$arm)
    deadline <- now_seconds() + wait
    looks <- 0L
    repeat {
      answer <- readLines(dog$ack, n = 1L)
      if (length(answer)) return(answer)
      if (now_seconds() > deadline) {
        close_watchdog()
        return(NULL)
      }
      # the answer usually comes within a few looks (tens of microseconds); sleeping at once
      # would cost the timer's slack on every value
      looks <- looks + 1L
      if (looks > 200L) Sys.sleep(0.0002)
    }
  }

  # `failed`: not started again in this process (else the next use starts a new one).
  close_watchdog <- function(failed = TRUE) {
    dog <- state$watchdog
    if (!is.null(dog$arm) && identical(dog$pid, Sys.getpid())) {
      try(close(dog$arm), silent = TRUE)  # the watchdog reads the end of its input and exits
      try(close(dog$ack), silent = TRUE)
    }
    state$watchdog <- if (failed) list(pid = Sys.getpid(), ok = FALSE)
  }

  # Runs fn() under a limit of `seconds`: list(ok, value) or list(ok = FALSE, over = TRUE,
  # took_ms, user = TRUE when the user's own interrupt ended it, error = message).
  run_limited <- function(fn, seconds) {
    dog <- watchdog()
    started <- now_seconds()
    armed <- FALSE
    outcome <- tryCatch({
      # armed inside the handler: however late this R runs next, the interrupt lands here
      if (!is.null(dog)) {
        writeLines(sprintf("arm %.3f", seconds), dog$arm)
        flush(dog$arm)
        armed <- TRUE
      }
      setTimeLimit(elapsed = seconds, transient = TRUE)
      value <- fn()
      setTimeLimit(elapsed = Inf, transient = TRUE)
      list(ok = TRUE, value = value)
    }, interrupt = function(e) list(ok = FALSE, interrupted = TRUE),
    error = function(e) list(ok = FALSE, error = conditionMessage(e)))
    setTimeLimit(elapsed = Inf, transient = TRUE)
    took <- now_seconds() - started
    fired <- FALSE
    if (armed) {
      fired <- identical(watchdog_say(dog, "disarm"), "fired")
      if (fired && !isTRUE(outcome$interrupted)) {
        # the interrupt came as the value finished: take it here, not in the caller's code
        tryCatch(for (i in 1:200) Sys.sleep(0.0005), interrupt = function(e) NULL)
      }
    }
    over <- fired || (!is.null(outcome$error) && took >= seconds * 0.95 &&
                        identical(outcome$error, TIME_LIMIT_MESSAGE))
    if (!outcome$ok && over) {
      return(list(ok = FALSE, over = TRUE, took_ms = took * 1000))
    }
    if (isTRUE(outcome$interrupted)) {
      return(list(ok = FALSE, over = TRUE, user = TRUE, took_ms = took * 1000))
    }
    outcome
  }

  TIME_LIMIT_MESSAGE <- gettext("reached elapsed time limit", domain = "R")

  # Values whose class has methods run the user's code; base classes described by base
  # functions alone do not.
  BASE_CLASSES <- c("data.frame", "factor", "Date", "POSIXct", "POSIXt", "difftime", "table",
                    "matrix", "array", "integer", "numeric", "character", "logical",
                    "function", "list", "environment", "NULL", "complex", "raw", "ordered")
  runs_user_code <- function(x) {
    isS4(x) || (is.object(x) && !all(class(x) %in% BASE_CLASSES))
  }

  # Within a host's request each value's limit is what is left of the request's limit
  # (filebridge.request_limit_ms, 1000): a request stops with error `timeout` past it.
  limit_in_request <- function() {
    deadline <- state$request_deadline
    if (is.null(deadline)) return(value_limit())
    left <- deadline - now_seconds()
    if (left <= 0) {
      answer_error("timeout", sprintf("the request took over %.0f ms in values' own code",
                                      request_limit() * 1000))
    }
    min(value_limit(), left)
  }

  class_key <- function(x) paste(class(x), collapse = "/")

  address_key <- function(x) {
    address <- address_of(x)
    if (!is.null(address)) format(address)
  }

  # What is remembered: state$slow_values[address] = ms it took (with its class key), and
  # state$slow_classes[class key] = how many of its values went over (2 remembers the class).
  slow_ms <- function(x) {
    key <- class_key(x)
    by_class <- state$slow_classes[[key]]
    if (!is.null(by_class) && by_class$count >= 2) return(by_class$took_ms)
    address <- address_key(x)
    if (is.null(address)) return(NULL)
    seen <- state$slow_values[[address]]
    if (!is.null(seen) && identical(seen$class, key) && seen$strikes >= 2) seen$took_ms
  }

  # A first overrun may be the machine's doing (a loaded machine, R's first calls): the value
  # is tried again next time, and remembered at its second overrun; `at_once` (the user's own
  # interrupt, a request's limit) remembers it at once.
  remember_slow <- function(x, took_ms, at_once = FALSE) {
    key <- class_key(x)
    address <- address_key(x)
    if (is.null(address)) return(invisible())
    seen <- state$slow_values[[address]]
    strikes <- if (at_once) 2 else if (!is.null(seen) && identical(seen$class, key))
      seen$strikes + 1 else 1
    state$slow_values[[address]] <- list(class = key, took_ms = took_ms, strikes = strikes)
    if (strikes < 2) return(invisible())
    by_class <- state$slow_classes[[key]]
    state$slow_classes[[key]] <- list(count = if (is.null(by_class)) 1 else by_class$count + 1,
                                      took_ms = took_ms)
  }

  forget_slow <- function(x = NULL) {
    if (is.null(x)) {
      state$slow_values <- new.env(parent = emptyenv())
      state$slow_classes <- new.env(parent = emptyenv())
      return(invisible())
    }
    key <- class_key(x)
    if (exists(key, envir = state$slow_classes, inherits = FALSE)) {
      rm(list = key, envir = state$slow_classes)
    }
    for (address in ls(state$slow_values, all.names = TRUE)) {
      if (identical(state$slow_values[[address]]$class, key)) {
        rm(list = address, envir = state$slow_values)
      }
    }
  }

  over_limit_text <- function(took_ms) {
    sprintf("not described: took over %.0f ms", max(1, round(took_ms)))
  }

  # A description that runs none of the value's code: name, class and why not more.
  over_limit_entry <- function(name, x, took_ms, now, evaluate_name) {
    entry <- bare_entry(name, over_limit_text(took_ms), class(x)[1], kind_of(x), TRUE, now,
                        evaluate_name)
    entry$type_info <- paste(class(x), collapse = ", ")
    entry$has_children <- is.list(x) || is.environment(x)
    entry$children_kind <- if (is.environment(x)) "named"
                           else if (is.list(x)) {
                             if (is.null(attr(x, "names", exact = TRUE))) "indexed" else "named"
                           }
    entry$not_described <- "over_limit"
    entry
  }

  # Describes the value held as `x` in the environment `box`, with any error as the entry.
  # R counts a value as shared while a binding, a list or a pending promise still refers to
  # it, and then copies it at the user's next change (a 10^8 vector changed after each prompt:
  # 800 MB each time). tryCatch() keeps its caller's frame referred to, so that frame must not
  # hold the value: it holds the box, which the caller empties afterwards.
  # A value whose class has methods is described under a time limit (above): `limit` seconds,
  # else the value limit, within what is left of the current request. Went over a limit
  # shorter than the value limit (the snapshot's budget ran short): not_described "budget".
  describe_safely <- function(name, status, box, now, evaluate_name = top_level_expr(name),
                              limit = NULL) {
    if (status == "value" && runs_user_code(box$x)) {
      took <- slow_ms(box$x)
      if (!is.null(took)) return(over_limit_entry(name, box$x, took, now, evaluate_name))
      seconds <- if (is.null(limit)) limit_in_request() else limit
      outcome <- run_limited(function() describe_variable(name, status, box$x, now,
                                                          evaluate_name), seconds)
      if (outcome$ok) return(outcome$value)
      if (isTRUE(outcome$over)) {
        if (seconds < value_limit() * 0.95 && !isTRUE(outcome$user)) {
          entry <- over_limit_entry(name, box$x, outcome$took_ms, now, evaluate_name)
          entry$not_described <- "budget"
          return(entry)
        }
        remember_slow(box$x, outcome$took_ms, at_once = isTRUE(outcome$user))
        return(over_limit_entry(name, box$x, outcome$took_ms, now, evaluate_name))
      }
      return(bare_entry(name, paste0("<error: ", outcome$error, ">"), "?", "other", TRUE, now,
                        evaluate_name))
    }
    tryCatch(describe_variable(name, status, box$x, now, evaluate_name), error = function(e) {
      bare_entry(name, paste0("<error: ", conditionMessage(e), ">"), "?", "other", TRUE, now,
                 evaluate_name)
    })
  }

  # Names left undescribed by the budget are described by a follow-up snapshot at the idle
  # prompt (where the later package runs the idle looks) while a viewer is subscribed, as the
  # Python worker follows up: one pending at a time, 50 ms after the last.
  schedule_follow_up <- function() {
    if (!isTRUE(state$idle_looks) || isTRUE(state$follow_up_pending) || !watched()) return()
    state$follow_up_pending <- TRUE
    generation <- state$idle_generation
    later::later(function() {
      state$follow_up_pending <- FALSE
      if (identical(generation, state$idle_generation) && isTRUE(state$connected) &&
          length(state$late_names) && watched()) {
        try(fb$filebridge_publish_variables(), silent = TRUE)
      }
    }, 0.05)
  }

  # Values the snapshot had no time to describe, by name and type only, as JSON objects.
  not_described <- "<not described: the snapshot's time budget ran out>"
  late_json <- function(names, values) {
    class_vectors <- lapply(values, class)
    first_class <- vapply(class_vectors, `[`, "", 1L, USE.NAMES = FALSE)
    classes <- first_class
    several <- lengths(class_vectors) > 1L
    classes[several] <- vapply(class_vectors[several], paste, "", collapse = ", ",
                               USE.NAMES = FALSE)
    # lengths() runs the length methods of classed values: not for those
    user <- vapply(values, runs_user_code, NA, USE.NAMES = FALSE)
    value_lengths <- rep(NA_real_, length(values))
    value_lengths[!user] <- as.numeric(lengths(values[!user], use.names = FALSE))
    list(signatures = paste(first_class, not_described, classes, value_lengths, sep = "\r"),
         json = function(updated) {
           name <- json_strings(names)
           length_json <- ifelse(is.na(value_lengths), "null", as.character(value_lengths))
           variable_objects(name, name, json_strings(not_described), json_strings(first_class),
                            json_strings(classes), '"other"', length_json, "null", "null",
                            "false", "null", "0", "0", "false", "true", '"budget"', updated,
                            json_strings(vapply(names, top_level_expr, "",
                                                USE.NAMES = FALSE)))
         })
  }

  # Values are described in name order until describing has taken the time budget
  # (filebridge.variables_budget_ms, 100 by default); later ones are listed by name and type
  # and named in `unevaluated`, as the Python worker does, and described by later snapshots.
  # Kept descriptions cost no time.
  fb$filebridge_publish_variables <- function(env = globalenv()) {
    "Write the variables snapshot (workspace.json) now and ring workspace.lock."
    check_connected()
    # R's JIT would compile the pane's functions at their first calls (see
    # serve_pending_commands), inside the snapshot's budget
    jit <- compiler::enableJIT(0L)
    on.exit(compiler::enableJIT(jit))
    started <- Sys.time()
    now <- round(as.numeric(started) * 1000)
    limit <- getOption("filebridge.object_length_limit", 2000)
    # in byte order, as the Python worker's names are: the locale's collation costs about 20 ms
    # for 10,000 names
    names_now <- sort(ls(env, all.names = FALSE, sorted = FALSE), method = "radix")
    statuses <- read_bindings(names_now, env)
    budget <- getOption("filebridge.variables_budget_ms", 100) / 1000
    spent <- 0
    kept_before <- state$kept_variables
    kept <- new.env(hash = TRUE, parent = emptyenv())
    count <- length(names_now)
    described <- vector("list", count)
    marks <- vector("list", count)
    signatures <- character(count)
    fragments <- character(count)
    late <- logical(count)
    box <- new.env(parent = emptyenv())
    value_seconds <- value_limit()
    # the names the previous snapshot could not reach come first
    waiting <- names_now %in% state$late_names
    for (i in c(which(waiting), which(!waiting))) {
      n <- names_now[[i]]
      status <- statuses[[i]]
      box$x <- NULL
      if (status == "value") {
        box$x <- env[[n]]
        previous <- kept_before[[n]]
        # same_value() written out: a call per value costs about a quarter of the snapshot
        mark <- previous$mark
        if (!is.null(mark$address) && identical(mark$address, address_of(box$x)) &&
            (!is.null(mark$value) ||
             (length(box$x) == mark$length && !is.null(names(box$x)) == mark$named))) {
          kept[[n]] <- previous
          signatures[i] <- previous$signature
          fragments[i] <- previous$json
          next
        }
        if (spent > budget) {
          late[i] <- TRUE
          next
        }
        marks[i] <- list(keep_mark(box$x, limit))
      }
      describing <- now_seconds()
      # a value's limit is cut to what is left of the budget (at least 5 ms), so a slow
      # method cannot hold the prompt longer than the budget
      entry <- describe_safely(n, status, box, now,
                               limit = min(value_seconds, max(budget - spent, 0.005)))
      spent <- spent + (now_seconds() - describing)
      if (identical(entry$not_described, "budget")) {
        late[i] <- TRUE
        marks[i] <- list(NULL)
        next
      }
      if (!is.null(entry$not_described)) marks[i] <- list(NULL)
      described[[i]] <- entry
      signatures[i] <- signature_of(entry)
    }
    box$x <- NULL
    late_values <- mget(names_now[late], envir = env)
    late_entries <- late_json(names_now[late], late_values)
    late_values[] <- list(NULL)  # let the values go (read_bindings says why)
    signatures[late] <- late_entries$signatures
    names(signatures) <- names_now
    before <- state$signatures
    changed <- if (is.null(before)) rep(TRUE, count)
               else is.na(before[names_now]) | before[names_now] != signatures
    assigned <- names_now[changed]
    removed <- setdiff(names(before), names_now)
    # a value described again the same way keeps the time it last changed
    last_change <- if (is.null(state$updated)) rep(NA_real_, count) else state$updated[names_now]
    updated <- unname(ifelse(changed | is.na(last_change), now, last_change))
    fresh <- which(!late & !nzchar(fragments))
    for (i in fresh) described[[i]]$updated_time <- updated[[i]]
    fragments[fresh] <- variables_json(described[fresh])
    fragments[late] <- late_entries$json(updated[late])
    for (i in fresh[!vapply(marks[fresh], is.null, NA)]) {
      kept[[names_now[i]]] <- list(mark = marks[[i]], signature = signatures[[i]],
                                   json = fragments[[i]])
    }
    state$kept_variables <- kept
    state$late_names <- names_now[late]
    state$over_limit_names <- names_now[!late & vapply(
      described, function(d) identical(d$not_described, "over_limit"), NA)]
    state$variables_stale <- FALSE
    if (any(late)) schedule_follow_up()
    if (!is.null(before) && !length(assigned) && !length(removed)) return(invisible(FALSE))
    state$updated <- stats::setNames(updated, names_now)
    state$signatures <- signatures
    state$variables_version <- state$variables_version + 1
    elapsed <- as.numeric(difftime(Sys.time(), started, units = "secs")) * 1000
    state$variables_length <- count
    state$variables_elapsed_ms <- round(elapsed, 3)
    head <- list(format = 1L, version = state$variables_version, time = as.numeric(started),
                 pid = Sys.getpid(), language = "r", length = count)
    strings <- function(x) paste0("[", paste(json_strings(x), collapse = ","), "]")
    json <- paste0(sub("}$", "", to_json(head)),
                   ',"variables":[', paste(fragments, collapse = ","),
                   '],"assigned":', strings(assigned), ',"removed":', strings(removed),
                   ',"unevaluated":', strings(names_now[late]),
                   ',"elapsed_ms":', round(elapsed, 3), ',"errors":[]}')
    atomic_write(state$paths$workspace_json, json)
    ring(state$paths$workspace_lock, state$variables_version)
    invisible(TRUE)
  }

  # ---- the pane's requests: paths and pages of children (docs/protocol-variables.md) ------

  PAGE_DEFAULT <- 100L
  PAGE_MAX <- 1000L
  SORT_LIMIT <- 10000L  # sorting or filtering children describes every one of them

  # An error the host receives with its own code (bad_request, not_found, too_large, refused)
  # rather than handler_error.
  answer_error <- function(code, message) {
    stop(fb_condition(message, "filebridge_answer_error", code = code))
  }

  whole_number_arg <- function(args, name, default, low, high) {
    v <- args[[name]]
    if (is.null(v)) return(default)
    if (!is.numeric(v) || length(v) != 1L || is.na(v) || v != floor(v) || v < low ||
        v > high) {
      answer_error("bad_request", sprintf("'%s' must be an integer from %.0f to %.0f", name,
                                          low, high))
    }
    v
  }

  text_arg <- function(args, name, choices = NULL) {
    v <- args[[name]]
    if (is.null(v)) return(NULL)
    if (!is.character(v) || length(v) != 1L || is.na(v) || (!is.null(choices) &&
                                                             !(v %in% choices))) {
      answer_error("bad_request", if (is.null(choices)) sprintf("'%s' must be a string", name)
                   else sprintf("'%s' must be one of %s", name, paste(choices, collapse = ", ")))
    }
    v
  }

  strings_arg <- function(args, name) {
    v <- args[[name]]
    if (is.null(v)) return(character(0))
    if (!is.list(v) || !all(vapply(v, function(k) is.character(k) && length(k) == 1L &&
                                      !is.na(k), NA))) {
      answer_error("bad_request", sprintf("'%s' must be a list of strings", name))
    }
    as.character(unlist(v))
  }

  # An environment's children, in byte order (as the snapshot's names).
  env_names <- function(env) sort(ls(env, all.names = TRUE, sorted = FALSE), method = "radix")

  child_count <- function(x) {
    if (is.environment(x)) length(x) else if (is.list(x)) length(x) else 0L
  }

  # `parent$name` for a syntactic name, else `parent[["name"]]`.
  member_exprs <- function(parent, names) {
    plain <- make.names(names) == names
    out <- paste0(parent, "[[", encodeString(names, quote = "\""), "]]")
    out[plain] <- paste0(parent, "$", names[plain])
    out
  }

  # For the children at `positions` (1-based) of a list: display names, access keys (JSON
  # text: the name where x[["name"]] finds that very element, else the 0-based position) and
  # the expressions that give each back.
  list_children <- function(x, expression, positions) {
    labels <- sprintf("[[%.0f]]", positions)
    keys <- sprintf("%.0f", positions - 1)
    exprs <- paste0(expression, labels)
    all_names <- names(x)
    if (!is.null(all_names)) {
      chosen <- all_names[positions]
      by_name <- !is.na(chosen) & nzchar(chosen)
      labels[by_name] <- chosen[by_name]
      by_name[by_name] <- match(chosen[by_name], all_names) == positions[by_name]
      keys[by_name] <- json_strings(chosen[by_name])
      exprs[by_name] <- member_exprs(expression, chosen[by_name])
    }
    list(labels = labels, keys = keys, exprs = exprs)
  }

  # Described children as rows: each one's JSON object, display name, display type and size
  # (NA when unknown), so that pages, sorting and filtering need no list per child.
  rows_of <- function(entries) {
    list(json = variables_json(entries),
         name = vapply(entries, function(e) e$display_name, "", USE.NAMES = FALSE),
         type = vapply(entries, function(e) e$display_type, "", USE.NAMES = FALSE),
         size = vapply(entries, function(e) if (is.null(e$size)) NA_real_
                       else as.numeric(e$size), 0, USE.NAMES = FALSE))
  }

  take_rows <- function(rows, chosen) lapply(rows, function(column) column[chosen])

  # Describes the children of the value in box$x at `positions` (1-based) as rows; promises
  # and active bindings of an environment are shown, never run. Numbers, strings and logicals
  # of length one without attributes (most of a long list) are written a field at a time for
  # all of them: through the general path a page of 100 cost about 16 ms, most of it calls.
  describe_children <- function(box, expression, positions, now) {
    holder <- new.env(parent = emptyenv())
    on.exit(holder$x <- NULL)
    n <- length(positions)
    in_env <- is.environment(box$x)
    if (in_env) {
      bound <- env_names(box$x)[positions]
      status <- read_bindings(bound, box$x)
      found <- list(labels = bound, keys = json_strings(bound),
                    exprs = member_exprs(expression, bound))
    } else {
      status <- rep("value", n)
      found <- list_children(box$x, expression, positions)
    }
    text <- character(n)
    type <- character(n)
    others <- vector("list", n)
    for (i in seq_len(n)) {
      holder$x <- if (status[[i]] != "value") NULL
                  else if (in_env) get(bound[[i]], envir = box$x, inherits = FALSE)
                  else box$x[[positions[[i]]]]
      if (is.null(attributes(holder$x)) && length(holder$x) == 1L) {
        type[i] <- switch(typeof(holder$x), double = "numeric", integer = "integer",
                          logical = "logical",
                          character = if (validUTF8(holder$x)) "character" else "",
                          "")
        if (nzchar(type[i])) {
          text[i] <- if (type[i] == "numeric") format(holder$x) else as.character(holder$x)
          next
        }
      }
      child <- describe_safely(found$labels[[i]], status[[i]], holder, now, found$exprs[[i]])
      child$access_key <- found$keys[[i]]
      others[[i]] <- child
    }
    plain <- nzchar(type)
    rows <- list(json = character(n), name = found$labels, type = paste0(type, " [1]"),
                 size = ifelse(plain & type != "character", SCALAR_SIZE, NA_real_))
    if (any(plain)) {
      rows$json[plain] <- scalar_rows_json(found$keys[plain], found$labels[plain],
                                           text[plain], type[plain], found$exprs[plain], now)
    }
    if (!all(plain)) {
      general <- rows_of(others[!plain])
      for (column in names(rows)) rows[[column]][!plain] <- general[[column]]
    }
    rows
  }

  SCALAR_SIZE <- as.numeric(utils::object.size(1))

  scalar_rows_json <- function(keys, names, text, type, exprs, now) {
    text[is.na(text)] <- "NA"
    text <- gsub("[\r\n\t]+", " ", text)
    truncated <- nchar(text, type = "chars") > 100L
    text[truncated] <- paste0(substr(text[truncated], 1L, 99L), "\u2026")
    string <- type == "character"
    kind <- ifelse(string, "\"string\"", ifelse(type == "logical", "\"boolean\"", "\"number\""))
    variable_objects(json_strings(keys), json_strings(names), json_strings(text),
                     json_strings(paste0(type, " [1]")), json_strings(type), kind, "1", "[1]",
                     ifelse(string, "null", sprintf("%.0f", SCALAR_SIZE)), "false", "null",
                     "0", "0", "false", c("false", "true")[truncated + 1L], "null", now,
                     json_strings(exprs))
  }

  # The access keys after the first, decoded from their JSON text.
  decode_keys <- function(texts) {
    lapply(texts, function(text) {
      key <- tryCatch(parse_json(text), error = function(e) NULL)
      if (!((is.character(key) || is.numeric(key)) && length(key) == 1L && !is.na(key))) {
        answer_error("bad_request", sprintf("access key %s is not a JSON string or number",
                                            encodeString(text, quote = "'")))
      }
      key
    })
  }

  # Puts the value at `path` (a variable's name, then children's access keys) in box$x and
  # returns the expression that gives it back.
  resolve_into <- function(box, path, env = globalenv()) {
    if (!length(path)) answer_error("bad_request", "the path is empty: name a variable first")
    keys <- decode_keys(path[-1])
    name <- path[[1]]
    if (!exists(name, envir = env, inherits = FALSE)) {
      answer_error("not_found", sprintf("no variable named %s", encodeString(name, quote = "'")))
    }
    box$x <- get(name, envir = env, inherits = FALSE)
    expression <- top_level_expr(name)
    for (i in seq_along(keys)) {
      key <- keys[[i]]
      no_child <- function() {
        answer_error("not_found", sprintf("%s has no child %s", expression, path[[i + 1L]]))
      }
      if (is.environment(box$x)) {
        if (!is.character(key) || !exists(key, envir = box$x, inherits = FALSE)) no_child()
        box$x <- get(key, envir = box$x, inherits = FALSE)
        expression <- member_exprs(expression, key)
      } else if (is.list(box$x)) {
        position <- if (is.numeric(key)) key + 1 else match(key, names(box$x))
        if (is.na(position) || position < 1 || position > length(box$x) ||
            position != floor(position)) no_child()
        expression <- list_children(box$x, expression, position)$exprs
        box$x <- box$x[[position]]
      } else {
        no_child()
      }
    }
    expression
  }

  # Access keys for a path given by display names (`filebridge vars cfg/servers/2`): a name,
  # or an unnamed element as `[[2]]` or `2` (R's positions, from 1).
  resolve_names <- function(shown, env = globalenv()) {
    if (!length(shown)) return(character(0))
    box <- new.env(parent = emptyenv())
    on.exit(box$x <- NULL)
    keys <- shown[[1]]
    expression <- resolve_into(box, keys)
    for (name in shown[-1]) {
      if (is.environment(box$x) && exists(name, envir = box$x, inherits = FALSE)) {
        key <- json_strings(name)
      } else if (is.list(box$x)) {
        position <- match(name, names(box$x))
        if (is.na(position) && grepl("^(\\[\\[)?[0-9]+(\\]\\])?$", name)) {
          position <- as.numeric(gsub("[^0-9]", "", name))
        }
        if (is.na(position) || position < 1 || position > length(box$x)) position <- NA
        key <- if (!is.na(position)) list_children(box$x, expression, position)$keys
      } else {
        key <- NULL
      }
      if (is.null(key)) {
        answer_error("not_found", sprintf("%s has no child named %s",
                                          paste(shown[seq_along(keys)], collapse = "/"),
                                          encodeString(name, quote = "'")))
      }
      keys <- c(keys, key)
      expression <- resolve_into(box, keys)
    }
    keys
  }

  request_path <- function(args) {
    if (!is.null(args$names)) return(resolve_names(strings_arg(args, "names")))
    strings_arg(args, "path")
  }

  sorted_filtered <- function(rows, sort, filter) {
    if (!is.null(filter) && nzchar(filter)) {
      rows <- take_rows(rows, grepl(tolower(filter), tolower(rows$name), fixed = TRUE))
    }
    if (is.null(sort) || !length(rows$name)) return(rows)
    by <- switch(sort, name = tolower(rows$name), type = tolower(rows$type),
                 size = -ifelse(is.na(rows$size), -1, rows$size))
    take_rows(rows, order(by, method = "radix"))
  }

  page_of <- function(rows, start, count) {
    take_rows(rows, seq_len(max(0, min(length(rows$name), start + count) - start)) + start)
  }

  # The answer as JSON text, the children's objects as the snapshot writes them.
  page_answer <- function(path, expression, total, start, kind, rows) {
    json <- sprintf(
      '{"path":%s,"evaluate_name":%s,"length":%.0f,"start":%.0f,"children_kind":%s,%s}',
      if (length(path)) paste0("[", paste(json_strings(path), collapse = ","), "]") else "[]",
      if (is.null(expression)) "null" else json_strings(expression), total, start,
      json_strings(kind), paste0('"children":[', paste(rows$json, collapse = ","), "]"))
    structure(json, filebridge_json = TRUE)
  }

  # The top level: the global environment's variables, as the snapshot lists them.
  inspect_top_level <- function(start, count, sort, filter, now) {
    env <- globalenv()
    listed <- sort(ls(env, all.names = FALSE, sorted = FALSE), method = "radix")
    if (!is.null(filter) && nzchar(filter)) {
      listed <- listed[grepl(tolower(filter), tolower(listed), fixed = TRUE)]
    }
    ordered <- !is.null(sort)
    chosen <- if (ordered) utils::head(listed, SORT_LIMIT)
              else listed[seq_len(max(0, min(length(listed), start + count) - start)) + start]
    status <- read_bindings(chosen, env)
    box <- new.env(parent = emptyenv())
    entries <- vector("list", length(chosen))
    for (i in seq_along(chosen)) {
      box$x <- if (status[[i]] == "value") get(chosen[[i]], envir = env, inherits = FALSE)
      entries[[i]] <- describe_safely(chosen[[i]], status[[i]], box, now)
    }
    box$x <- NULL
    rows <- rows_of(entries)
    total <- length(listed)
    if (ordered) {
      rows <- sorted_filtered(rows, sort, NULL)
      total <- length(rows$name)
      rows <- page_of(rows, start, count)
    }
    page_answer(character(0), NULL, total, start, "named", rows)
  }

  # `inspect`: a page of the children at `path` (or `names`), sorted and filtered on request.
  inspect_children <- function(args) {
    path <- request_path(args)
    start <- whole_number_arg(args, "start", 0, 0, 2^53)
    count <- whole_number_arg(args, "count", PAGE_DEFAULT, 0, PAGE_MAX)
    sort <- text_arg(args, "sort", c("name", "size", "type"))
    filter <- text_arg(args, "filter")
    which <- text_arg(args, "children", c("named", "indexed"))
    now <- round(as.numeric(Sys.time()) * 1000)
    if (!length(path)) return(inspect_top_level(start, count, sort, filter, now))
    box <- new.env(parent = emptyenv())
    on.exit(box$x <- NULL)  # let the value go (see describe_safely)
    expression <- resolve_into(box, path)
    primary <- children_kind_of(box$x)
    if (is.null(primary)) primary <- "named"
    if (!is.null(which) && which != primary) {
      return(page_answer(path, expression, 0, start, which, list(json = character(0))))
    }
    total <- child_count(box$x)
    if (is.null(sort) && (is.null(filter) || !nzchar(filter))) {
      positions <- seq_len(max(0, min(total, start + count) - start)) + start
      rows <- describe_children(box, expression, positions, now)
    } else {
      if (total > SORT_LIMIT) {
        answer_error("too_large", sprintf(paste0("sorting or filtering %d children is limited ",
                                                 "to %d; page through them unsorted"),
                                          total, SORT_LIMIT))
      }
      rows <- sorted_filtered(describe_children(box, expression, seq_len(total), now),
                              sort, filter)
      total <- length(rows$name)
      rows <- page_of(rows, start, count)
    }
    page_answer(path, expression, total, start, primary, rows)
  }

  # ---- the pane's other requests: view, clipboard, table summary, delete, clear, retry ----

  VIEW_ROWS <- 1000L
  VIEW_COLUMNS <- 200L
  CLIPBOARD_CHARS <- 2^20

  # Runs a request's work on the value at `path` under the request's limit; a value whose code
  # went over it is remembered (as a description that went over is) and the answer is
  # error `timeout`.
  limited_request <- function(what, box, work) {
    if (runs_user_code(box$x)) {
      took <- slow_ms(box$x)
      if (!is.null(took)) {
        answer_error("timeout", sprintf("%s: the value's own code went over its time limit (%s); retry it first",
                                        what, over_limit_text(took)))
      }
    }
    seconds <- request_limit()
    outcome <- run_limited(work, seconds)
    if (outcome$ok) return(outcome$value)
    if (isTRUE(outcome$over)) {
      remember_slow(box$x, outcome$took_ms, at_once = TRUE)
      answer_error("timeout", sprintf("%s took over %.0f ms in the value's own code and was stopped",
                                      what, seconds * 1000))
    }
    stop(outcome$error)
  }

  with_value <- function(args, fn) {
    path <- request_path(args)
    box <- new.env(parent = emptyenv())
    on.exit(box$x <- NULL)  # let the value go (see describe_safely)
    expression <- resolve_into(box, path)
    fn(box, path, expression)
  }

  view_table_json <- function(x, title) {
    total <- if (is.null(attr(x, "filebridge_total"))) NROW(x) else attr(x, "filebridge_total")
    keyed <- isTRUE(attr(x, "filebridge_keyed"))  # key and value columns: no (row) column
    x <- as_view_table(x)
    named_rows <- is.character(attr(x, "row.names"))
    rows <- seq_len(min(nrow(x), VIEW_ROWS))
    shown <- x[rows, seq_len(min(ncol(x), VIEW_COLUMNS)), drop = FALSE]
    headers <- c(if (!keyed) "(row)", names(shown))
    fields <- sprintf("x%d", seq_along(headers) - 1L)
    types <- c(if (!keyed) { if (named_rows) "textColumn" else "numericColumn" },
               vapply(shown, function(col) {
                 if (table_kind(col) == "number") "numericColumn" else "textColumn"
               }, "", USE.NAMES = FALSE))
    cells <- c(if (!keyed) list(if (named_rows) json_strings(attr(x, "row.names")[rows])
                                else as.character(rows)),
               lapply(unname(as.list(shown)), function(col) table_cells(col)))
    data <- if (length(rows)) {
      parts <- lapply(seq_along(cells), function(j) {
        paste0(if (j == 1L) "{" else ",", json_strings(fields[[j]]), ":", cells[[j]])
      })
      paste0(do.call(paste0, parts), "}")
    } else character(0)
    limited <- length(rows) < total
    if (limited) title <- sprintf("%s (limited to %d/%d)", title, length(rows), total)
    columns <- sprintf('{"headerName":%s,"headerTooltip":%s,"field":%s,"type":%s}',
                       json_strings(headers), json_strings(headers), json_strings(fields),
                       json_strings(types))
    structure(sprintf(paste0('{"source":"table","title":%s,"columns":[%s],"data":[%s],',
                             '"total_rows":%.0f,"limited":%s}'),
                      json_strings(title), paste(columns, collapse = ","),
                      paste(data, collapse = ","), total, if (limited) "true" else "false"),
              filebridge_json = TRUE)
  }

  # A value as a table: data frames (tibbles and data.tables are data frames), matrices and
  # atomic vectors as they are; a list or an environment as one row per element (name and
  # short value); a function as its source lines.
  view_table_of <- function(x) {
    if (is.data.frame(x) || is.matrix(x) || (is.atomic(x) && !is.null(x))) return(x)
    if (is.environment(x)) x <- as.list(x, all.names = FALSE, sorted = TRUE)
    if (is.function(x)) {
      return(data.frame(source = deparse(x, control = "useSource"), stringsAsFactors = FALSE))
    }
    if (is.list(x)) {
      # as the Python worker shows a dict (key, value) and a list ((row), value)
      shown <- utils::head(seq_along(x), VIEW_ROWS)
      values <- vapply(x[shown], function(v) short_text(v)$text, "", USE.NAMES = FALSE)
      labels <- names(x)
      table <- if (is.null(labels)) data.frame(value = values, stringsAsFactors = FALSE)
               else data.frame(key = labels[shown], value = values, stringsAsFactors = FALSE)
      return(structure(table, filebridge_keyed = !is.null(labels),
                       filebridge_total = length(x)))
    }
    answer_error("refused", sprintf("a %s has no data viewer", class(x)[1]))
  }

  # `view`: the value at `path` as the Python worker's table (at most 1000 rows, 200 columns);
  # with `open: true` also shown whole through View()'s dataview.
  view_path <- function(args) {
    with_value(args, function(box, path, expression) {
      title <- text_arg(args, "title")
      if (is.null(title)) title <- expression
      open <- isTRUE(args$open)
      limited_request("view", box, function() {
        table <- view_table_json(view_table_of(box$x), title)
        if (open) {
          # the page opens the data view by its id (a table's; other views have none)
          shown <- attr(fb$filebridge_view(box$x, title = title), "view")
          if (!is.null(shown)) {
            table <- structure(sub("}$", paste0(",\"view\":", json_strings(shown), "}"), table),
                               filebridge_json = TRUE)
          }
        }
        table
      })
    })
  }

  clipboard_path <- function(args) {
    mime <- text_arg(args, "mime")
    if (is.null(mime)) mime <- "text/plain"
    if (!mime %in% c("text/plain", "text/csv")) {
      answer_error("bad_request", sprintf(paste0("clipboard format '%s' is not supported; ",
                                                 "use text/plain or text/csv"), mime))
    }
    with_value(args, function(box, path, expression) {
      limited_request("clipboard_format", box, function() {
        x <- box$x
        truncated <- FALSE
        if (mime == "text/csv") {
          table <- as_view_table(view_table_of(x))
          truncated <- nrow(table) > VIEW_ROWS
          con <- textConnection(NULL, open = "w", local = TRUE)
          utils::write.csv(utils::head(table, VIEW_ROWS), con, na = "",
                           row.names = is.character(attr(table, "row.names")))
          text <- paste(textConnectionValue(con), collapse = "\n")
          close(con)
        } else if (is.character(x) && length(x) == 1L && !is.object(x) && !is.na(x)) {
          text <- x
        } else {
          # print() shows at most max.print entries: a long vector stays bounded
          old <- options(max.print = 10000L, width = 120L)
          on.exit(options(old))
          text <- paste(utils::capture.output(print(x)), collapse = "\n")
          truncated <- length(x) > 10000L
        }
        if (nchar(text, type = "chars") > CLIPBOARD_CHARS) {
          text <- substr(text, 1L, CLIPBOARD_CHARS)
          truncated <- TRUE
        }
        list(mime = mime, content = text, is_truncated = truncated)
      })
    })
  }

  # Positron's column display types for R's column classes.
  column_display <- function(col) {
    if (inherits(col, "POSIXt")) return("datetime")
    if (inherits(col, "Date")) return("date")
    if (is.factor(col) || is.character(col)) return("string")
    if (is.logical(col)) return("boolean")
    if (is.numeric(col) || is.complex(col)) return("number")
    if (is.list(col)) return("array")
    "unknown"
  }

  table_summary_path <- function(args) {
    with_value(args, function(box, path, expression) {
      x <- box$x
      if (!is.data.frame(x) && !is.matrix(x)) {
        answer_error("refused", sprintf("%s (%s) is not a table", expression, class(x)[1]))
      }
      limited_request("query_table_summary", box, function() {
        table <- if (is.matrix(box$x)) as.data.frame(box$x, stringsAsFactors = FALSE) else box$x
        columns <- names(table)
        chosen <- seq_len(min(length(columns), VIEW_COLUMNS))
        schemas <- vapply(chosen, function(j) {
          col <- .subset2(table, j)
          to_json(list(column_name = columns[[j]], column_index = j - 1L,
                       type_name = class(col)[1], type_display = column_display(col)))
        }, "")
        list(num_rows = nrow(table), num_columns = length(columns),
             column_schemas = as.list(unname(schemas)), column_profiles = list())
      })
    })
  }

  delete_names <- function(names) {
    env <- globalenv()
    present <- vapply(names, exists, NA, envir = env, inherits = FALSE, USE.NAMES = FALSE)
    if (any(present)) rm(list = names[present], envir = env)
    fb$filebridge_publish_variables()
    list(removed = as.list(names[present]), missing = as.list(names[!present]),
         version = state$variables_version)
  }

  delete_variables <- function(args) {
    names <- args$names
    if (!is.list(names) || !all(vapply(names, function(n) is.character(n) && length(n) == 1L,
                                       NA))) {
      answer_error("bad_request", "'names' must be a list of variable names")
    }
    delete_names(as.character(unlist(names)))
  }

  # Positron's `clear`: every listed variable, and the hidden `.x` ones when asked.
  clear_variables <- function(args) {
    hidden <- args$include_hidden_objects
    if (is.null(hidden)) hidden <- FALSE
    if (!is.logical(hidden) || length(hidden) != 1L || is.na(hidden)) {
      answer_error("bad_request", "'include_hidden_objects' must be true or false")
    }
    delete_names(ls(globalenv(), all.names = hidden, sorted = FALSE))
  }

  refresh_variables <- function(args) {
    state$signatures <- NULL
    state$kept_variables <- NULL
    fb$filebridge_publish_variables()
    list(version = state$variables_version, length = state$variables_length,
         elapsed_ms = state$variables_elapsed_ms, time = as.numeric(Sys.time()))
  }

  # `retry`: forget that the value at `path` (and its class) went over the time limit, or
  # every such value without a path, and describe anew.
  retry_variables <- function(args) {
    if (is.null(args$path) && is.null(args$names)) {
      forget_slow()
    } else {
      with_value(args, function(box, path, expression) forget_slow(box$x))
    }
    state$signatures <- NULL
    state$kept_variables <- NULL
    fb$filebridge_publish_variables()
    list(version = state$variables_version, unevaluated = as.list(state$late_names),
         still_over_limit = as.list(state$over_limit_names))
  }

  # ---- viewers: no snapshot for a closed pane ----------------------------------------------

  SUBSCRIPTION_MAX_S <- 600

  elapsed_now <- function() proc.time()[["elapsed"]]

  active_viewers <- function() {
    until <- state$viewers
    until <- until[until > elapsed_now()]
    state$viewers <- until
    length(until)
  }

  watched <- function() {
    !isTRUE(getOption("filebridge.variables_require_viewer", TRUE)) || active_viewers() > 0
  }

  subscribe_viewer <- function(args) {
    viewer <- args$viewer
    if (!is.character(viewer) || length(viewer) != 1L || is.na(viewer) ||
        !nzchar(viewer) || nchar(viewer) > 200) {
      answer_error("bad_request", "'viewer' must be a string of 1 to 200 characters")
    }
    seconds <- if (is.null(args$seconds)) 30 else args$seconds
    if (!is.numeric(seconds) || length(seconds) != 1L || is.na(seconds) || seconds <= 0 ||
        seconds > SUBSCRIPTION_MAX_S) {
      answer_error("bad_request", sprintf("'seconds' must be a number from 0 to %g",
                                          SUBSCRIPTION_MAX_S))
    }
    state$viewers[[viewer]] <- elapsed_now() + seconds
    if (state$variables_version == 0 || isTRUE(state$variables_stale)) {
      fb$filebridge_publish_variables()
    }
    list(version = state$variables_version, viewers = active_viewers())
  }

  unsubscribe_viewer <- function(args) {
    viewer <- args$viewer
    if (!is.character(viewer) || length(viewer) != 1L) {
      answer_error("bad_request", "'viewer' must be a string")
    }
    state$viewers <- state$viewers[names(state$viewers) != viewer]
    list(viewers = active_viewers())
  }

  # ---- View(), viewers, help, plots --------------------------------------------------------

  # Paths inside the session folder also travel relative to it: that needs no path map.
  in_session <- function(path) paste0("views/", basename(path))

  write_view_file <- function(json) {
    path <- file.path(state$paths$views, paste0(random_hex(8), ".json"))
    atomic_write(path, json)
    normalizePath(path, winslash = "/")
  }

  fb$filebridge_view <- function(x, title = NULL,
                                 row_limit = getOption("filebridge.view_row_limit", 0)) {
    "Send x to the host as a data view: a table, a tree (lists), or source (functions)."
    check_connected()
    if (is.null(title)) title <- paste(deparse(substitute(x), width.cutoff = 60L)[1])
    if (is.data.frame(x) || is.matrix(x) || (is.atomic(x) && !is.null(x))) {
      # R's JIT would compile this call's fresh closures (about 0.1 s a View()): they are short
      if (requireNamespace("compiler", quietly = TRUE)) {
        jit <- compiler::enableJIT(0L)
        on.exit(compiler::enableJIT(jit), add = TRUE)
      }
      x <- as_view_table(x)
      total <- nrow(x)
      shown <- if (is.numeric(row_limit) && row_limit > 0 && total > row_limit) {
        as.integer(row_limit)
      } else total
      if (shown < total) title <- sprintf("%s (limited to %d/%d)", title, shown, total)
      view_id <- random_hex(8)
      folder <- file.path(state$paths$views, view_id)
      make_private_dir(folder)
      columns <- snapshot_columns(x, shown)
      keep_live_table(view_id, columns, shown, total)
      sent <- NULL
      write_view_table(columns, folder, title, shown, total, function(meta) {
        sent <<- fb$filebridge_send("dataview", view = view_id, source = "table",
                                    type = "filebridge.table", title = title, rows = shown,
                                    total_rows = total,
                                    dir = normalizePath(folder, winslash = "/"),
                                    dir_in_session = paste0("views/", view_id))
      })
      return(structure(sent, view = view_id))
    }
    if (is.function(x)) {
      text <- paste(deparse(x, control = "useSource"), collapse = "\n")
      path <- file.path(state$paths$views, paste0(random_hex(8), ".R"))
      atomic_write(path, text)
      return(fb$filebridge_send("dataview", source = "object", type = "R", title = title,
                                file = normalizePath(path, winslash = "/"),
                                file_in_session = in_session(path)))
    }
    if (is.environment(x)) x <- as.list(x, all.names = FALSE, sorted = TRUE)
    if (is.list(x)) {
      tree <- tryCatch(
        as.character(jsonlite::toJSON(x, auto_unbox = TRUE, null = "null", na = "string",
                                      force = TRUE, digits = NA)),
        error = function(e) NULL)
      if (!is.null(tree)) {
        return(fb$filebridge_send("dataview", source = "list", type = "json", title = title,
                                  file = (f <- write_view_file(tree)),
                                  file_in_session = in_session(f)))
      }
    }
    path <- file.path(state$paths$views, paste0(random_hex(8), ".txt"))
    atomic_write(path, paste(utils::capture.output(utils::str(x)), collapse = "\n"))
    fb$filebridge_send("dataview", source = "object", type = "txt", title = title,
                       file = normalizePath(path, winslash = "/"),
                       file_in_session = in_session(path))
  }

  fb$View <- function(x, title) {
    if (missing(title)) title <- paste(deparse(substitute(x), width.cutoff = 60L)[1])
    if (!isTRUE(state$connected)) return(utils::View(x, title))
    # filebridge_view is long: R's JIT would compile it at a call (tens of ms of that View())
    if (requireNamespace("compiler", quietly = TRUE)) {
      jit <- compiler::enableJIT(0L)
      on.exit(compiler::enableJIT(jit))
    }
    invisible(fb$filebridge_view(x, title = title))
  }

  # browseURL(): a local HTML file (a path or a file:// URL) is shown as a webview, with the
  # files beside it; anything else goes to the host's browser view.
  browser_function <- function(url, ...) {
    if (!isTRUE(state$connected)) return(invisible(NULL))
    file <- local_file_of(url)
    if (!is.null(file) && grepl("\\.html?$", file, ignore.case = TRUE)) {
      show_page(file, page_title(file, basename(file)))
    } else {
      fb$filebridge_send("browser", url = url)
    }
    invisible(NULL)
  }

  # A page's own <title> (htmlwidgets write the widget's name there), else what shows it.
  page_title <- function(file, fallback) {
    head <- tryCatch(readLines(file, n = 60L, warn = FALSE), error = function(e) character())
    found <- regmatches(head, regexpr("<title>[^<]*</title>", head))
    title <- if (length(found)) trimws(gsub("</?title>", "", found[[1]])) else ""
    if (nzchar(title)) title else fallback
  }

  local_file_of <- function(url) {
    path <- if (startsWith(url, "file://")) utils::URLdecode(sub("^file://", "", url)) else url
    if (!grepl("^[a-zA-Z][a-zA-Z0-9+.-]*://", path) && file.exists(path) && !dir.exists(path)) {
      path
    }
  }

  # htmlwidgets and friends call the viewer option with a file path (or a localhost URL).
  viewer_function <- function(url, height = NULL) {
    if (!isTRUE(state$connected)) return(invisible(NULL))
    file <- local_file_of(url)
    if (!is.null(file)) {
      show_page(file, page_title(file, "Viewer"))
    } else {
      fb$filebridge_send("browser", url = url)
    }
    invisible(NULL)
  }

  fb$filebridge_webview <- function(file, title = NULL) {
    "Show a local HTML file (with the assets beside it) as a webview."
    check_connected()
    normalizePath(file, mustWork = TRUE)
    invisible(show_page(file, if (is.null(title)) basename(file) else title))
  }

  # The host serves only what lies in the session folder (or folders its user named), so a
  # page elsewhere (R's temporary folder, where htmlwidgets write) is copied under
  # <session>/views/<id>/ first: with its folder's files when they are at most 1000 and 64 MB
  # together (a widget's libraries), else the page alone.
  show_page <- function(file, title) {
    page <- normalizePath(file, winslash = "/", mustWork = TRUE)
    session <- normalizePath(state$paths$folder, winslash = "/")
    if (startsWith(page, paste0(session, "/"))) {
      return(fb$filebridge_send("webview", file = page, title = title,
                                file_in_session = substring(page, nchar(session) + 2L)))
    }
    base <- dirname(page)
    view_id <- random_hex(8)
    target <- file.path(state$paths$views, view_id)
    make_private_dir(target)
    files <- list.files(base, recursive = TRUE, all.files = FALSE, no.. = TRUE)
    sizes <- file.size(file.path(base, files))
    if (length(files) > 1000L || sum(sizes, na.rm = TRUE) > 64 * 2^20) files <- basename(page)
    for (name in files) {
      dir.create(dirname(file.path(target, name)), recursive = TRUE, showWarnings = FALSE,
                 mode = "0700")
      file.copy(file.path(base, name), file.path(target, name), overwrite = TRUE)
    }
    copied <- file.path(target, basename(page))
    fb$filebridge_send("webview", view = view_id, file = copied, dir = target, title = title,
                       file_in_session = paste0("views/", view_id, "/", basename(page)),
                       dir_in_session = paste0("views/", view_id))
  }

  # Help pages: rendered by help_pages.R (beside this file) into <session>/views/help/, a
  # small site with R's style sheet and relative cross-links; the pages a page links to are
  # rendered afterwards by a forked process. Without help_pages.R, the page alone.
  help_site <- function() {
    if (is.null(state$help_env)) {
      script <- if (!is.null(state$worker_dir)) file.path(state$worker_dir, "help_pages.R")
      if (is.null(script) || !file.exists(script)) return(NULL)
      env <- new.env(parent = globalenv())
      sys.source(script, envir = env)
      state$help_env <- env
    }
    state$help_env
  }

  show_help_site <- function(request_path, fallback) {
    site <- help_site()
    if (is.null(site)) return(fallback())
    out <- file.path(state$paths$views, "help")
    make_private_dir(out)
    shown <- tryCatch(with_private_umask(site$filebridge_help_pages(request_path, out,
                                                                    linked_pages = 0L)),
                      error = function(e) NULL)
    if (is.null(shown)) return(fallback())
    page <- file.path(out, shown$page)
    fb$filebridge_send("help", file = normalizePath(page, winslash = "/"),
                       dir = normalizePath(out, winslash = "/"),
                       file_in_session = paste0("views/help/", shown$page),
                       title = shown$title, topic = shown$topic, package = shown$package)
    if (startsWith(request_path, "/library/")) {
      in_background(function() with_private_umask(site$filebridge_help_pages(request_path,
                                                                              out)))
    }
    invisible(TRUE)
  }

  print_help <- function(x, ...) {
    if (!isTRUE(state$connected) || !length(x)) return(invisible(x))
    file <- x[[1]]
    show_help_site(paste0("/library/", basename(dirname(dirname(file))), "/html/",
                          basename(file), ".html"), function() print_help_page(x))
    invisible(x)
  }

  # ??topic: a result page linking to the pages found
  print_search <- function(x, ...) {
    if (!isTRUE(state$connected)) return(utils:::print.hsearch(x, ...))
    fields <- paste0("&fields.", x$fields, "=1", collapse = "")
    path <- paste0("/doc/html/Search?pattern=", utils::URLencode(x$pattern, reserved = TRUE),
                   fields, if (!isTRUE(x$ignore.case)) "&ignore.case=0",
                   if (length(x$package)) paste0("&package=", paste(x$package, collapse = ";")))
    show_help_site(path, function() utils:::print.hsearch(x, ...))
    invisible(x)
  }

  print_help_page <- function(x, ...) {
    topic <- attr(x, "topic")
    rd <- tryCatch(utils:::.getHelpFile(x[[1]]), error = function(e) NULL)
    if (is.null(rd)) return(invisible(x))
    out <- file.path(state$paths$views, paste0(random_hex(8), ".html"))
    # Rd2HTML links "R.css" beside the page: put R's style sheet there, so the page is styled
    style <- file.path(state$paths$views, "R.css")
    if (!file.exists(style)) {
      with_private_umask(file.copy(file.path(R.home("doc"), "html", "R.css"), style))
    }
    with_private_umask(tools::Rd2HTML(rd, out = out, package = basename(dirname(dirname(x[[1]]))),
                                      stylesheet = "R.css"))
    fb$filebridge_send("help", file = normalizePath(out, winslash = "/"),
                       file_in_session = in_session(out), topic = topic,
                       package = basename(dirname(dirname(x[[1]]))))
    invisible(x)
  }

  # ---- rstudioapi on filebridge's wire ---------------------------------------------------
  # When the rstudioapi package loads (or is loaded), its functions that ask RStudio are
  # replaced in its namespace. Answered in R: isAvailable, verifyAvailable, hasFun, getVersion,
  # versionInfo (mode "filebridge", version 0: no RStudio version is claimed), viewer (a
  # webview), getActiveProject (the working directory, unless the host says otherwise). Sent to
  # the host as a call `rstudioapi` {action, args}, for an editor integration to answer:
  # active_editor_context, insert_or_modify_text, show_prompt, ask_for_password, show_dialog,
  # navigate_to_file, document_save; with no handler there, R gets an error saying so.
  # A prompt waits for a person: `filebridge.prompt_timeout` seconds (100), which the host
  # is told (as `timeout`) so that it gives up first and says why.
  rstudioapi_call <- function(action, ..., .prompt = FALSE) {
    args <- list(action = action, args = list(...))
    wait <- getOption("filebridge.timeout", 10)
    if (.prompt) {
      args$timeout <- as.numeric(getOption("filebridge.prompt_timeout", 100))
      wait <- args$timeout + 5
    }
    tryCatch(do.call(fb$filebridge_call, c(list("rstudioapi"), args, list(.timeout = wait))),
             filebridge_no_handler = function(e) {
               stop(sprintf(paste0("rstudioapi action '%s' is not available in filebridge: ",
                                   "no editor integration answers it on the host%s"), action,
                            if (.prompt) " and no web page is open (`filebridge serve --ui`)"
                            else ""),
                    call. = FALSE)
             },
             filebridge_remote_error = function(e) {
               stop(sprintf("rstudioapi action '%s' failed in filebridge: %s", action,
                            conditionMessage(e)), call. = FALSE)
             })
  }

  position_of <- function(p) {
    rstudioapi::document_position(as.numeric(p[[1]]), as.numeric(p[[2]]))
  }

  range_json <- function(location) {
    if (is.null(location)) return(NULL)
    r <- if (inherits(location, "document_range")) location else
      if (inherits(location, "document_position") || (is.numeric(location) &&
                                                        length(location) == 2L)) {
        p <- position_of(location)
        rstudioapi::document_range(p, p)
      } else rstudioapi::as.document_range(location)
    list(start = as.numeric(r$start), end = as.numeric(r$end))
  }

  rstudioapi_functions <- function() {
    ns <- asNamespace("rstudioapi")
    version <- function() numeric_version("0")
    context_of <- function(answer) {
      selection <- lapply(answer$selection, function(s) {
        list(range = rstudioapi::document_range(position_of(s$range$start),
                                                position_of(s$range$end)),
             text = if (is.null(s$text)) "" else s$text)
      })
      contents <- unlist(answer$contents)
      if (length(contents) == 1L) contents <- strsplit(contents, "\n", fixed = TRUE)[[1]]
      structure(list(id = if (is.null(answer$id)) "" else as.character(answer$id),
                     path = if (is.null(answer$path)) "" else answer$path,
                     contents = if (is.null(contents)) character() else contents,
                     selection = structure(selection, class = "document_selection")),
                class = "document_context")
    }
    modify <- function(location, text, id) {
      if (!inherits(location, c("document_range", "document_position")) &&
          is.list(location) && length(location)) {
        ranges <- lapply(location, range_json)
      } else {
        ranges <- list(range_json(location))
      }
      text <- rep_len(as.character(text), length(ranges))
      query <- mapply(function(r, t) list(range = r, text = t), ranges, text, SIMPLIFY = FALSE)
      invisible(rstudioapi_call("insert_or_modify_text", query = query, id = id))
    }
    list(
      isAvailable = function(version_needed = NULL, child_ok = FALSE) is.null(version_needed),
      verifyAvailable = function(version_needed = NULL) {
        if (!is.null(version_needed)) {
          stop("filebridge's rstudioapi emulation claims no RStudio version", call. = FALSE)
        }
        invisible(TRUE)
      },
      hasFun = function(name, version_needed = NULL, ...) {
        is.null(version_needed) && name %in% names(rstudioapi_functions())
      },
      getVersion = version,
      versionInfo = function() {
        list(citation = "", mode = "filebridge", version = version(),
             long_version = "0", release_name = "filebridge")
      },
      viewer = function(url, height = NULL) viewer_function(url, height),
      getActiveProject = function() {
        answer <- tryCatch(rstudioapi_call("get_project_path"), error = function(e) NULL)
        if (is.list(answer) && is.character(answer$path)) answer$path else getwd()
      },
      getActiveDocumentContext = function() context_of(rstudioapi_call("active_editor_context")),
      getSourceEditorContext = function(id = NULL) {
        context_of(rstudioapi_call("active_editor_context", id = id))
      },
      insertText = function(location = NULL, text = NULL, id = NULL) {
        if (is.null(text) && is.character(location)) {
          text <- location
          location <- NULL
        }
        modify(location, text, id)
      },
      modifyRange = function(location = NULL, text = NULL, id = NULL) modify(location, text, id),
      showPrompt = function(title, message, default = NULL) {
        answer <- rstudioapi_call("show_prompt", title = title, message = message,
                                  default = default, .prompt = TRUE)
        if (is.list(answer)) answer$value else answer
      },
      askForPassword = function(prompt) {
        answer <- rstudioapi_call("ask_for_password", prompt = prompt, .prompt = TRUE)
        if (is.list(answer)) answer$value else answer
      },
      showDialog = function(title, message, url = "") {
        invisible(rstudioapi_call("show_dialog", title = title, message = message, url = url))
      },
      navigateToFile = function(file, line = -1L, column = -1L, moveCursor = TRUE) {
        invisible(rstudioapi_call("navigate_to_file", file = normalizePath(file, mustWork = FALSE),
                                  line = line, column = column))
      },
      documentSave = function(id = NULL) invisible(rstudioapi_call("document_save", id = id))
    )
  }

  patch_rstudioapi <- function(...) {
    ns <- asNamespace("rstudioapi")
    for (name in names(replacements <- rstudioapi_functions())) {
      if (!exists(name, envir = ns, inherits = FALSE)) next
      locked <- bindingIsLocked(name, ns)
      if (locked) unlockBinding(name, ns)
      assign(name, replacements[[name]], envir = ns)
      if (locked) lockBinding(name, ns)
    }
    state$rstudioapi_patched <- TRUE
  }

  install_rstudioapi <- function() {
    if (!isTRUE(getOption("filebridge.rstudioapi", TRUE))) return(invisible(FALSE))
    hook <- packageEvent("rstudioapi", "onLoad")
    # one hook of ours however often the worker is sourced; others' hooks stay
    ours <- vapply(getHook(hook), function(h) isTRUE(attr(h, "filebridge")), NA)
    setHook(hook, getHook(hook)[!ours], "replace")
    setHook(hook, structure(patch_rstudioapi, filebridge = TRUE))
    if ("rstudioapi" %in% loadedNamespaces()) patch_rstudioapi()
    invisible(TRUE)
  }

  # Plots draw on a null pdf device with its display list on; after each top-level call whose
  # display list changed, the plot is replayed into a png, published as plot.png (atomic
  # replace), plot.lock is rung and a `plot` request names the file.
  plot_device <- function(...) {
    grDevices::pdf(NULL, width = getOption("filebridge.plot_width", 7),
                   height = getOption("filebridge.plot_height", 5))
    grDevices::dev.control(displaylist = "enable")
    state$plot_device <- grDevices::dev.cur()
  }

  fb$filebridge_publish_plot <- function(force = FALSE) {
    "Publish the current plot as plot.png if it changed since the last one (or force = TRUE)."
    check_connected()
    dev <- state$plot_device
    if (is.null(dev) || !(dev %in% grDevices::dev.list())) return(invisible(FALSE))
    current <- grDevices::dev.cur()
    on.exit(if (current %in% grDevices::dev.list()) grDevices::dev.set(current), add = TRUE)
    grDevices::dev.set(dev)
    recorded <- grDevices::recordPlot()
    if (is.null(recorded[[1]]) || (!force && identical(recorded[[1]], state$last_plot))) {
      return(invisible(FALSE))
    }
    state$last_plot <- recorded[[1]]
    publish_plot_png(recorded)
    invisible(TRUE)
  }

  # The png is drawn at the plot pane's size once the host has said it (plot_size), else at
  # the filebridge.plot_width x _height options (inches) and filebridge.plot_res.
  publish_plot_png <- function(recorded) {
    res <- state$plot_pane$res
    if (is.null(res)) res <- getOption("filebridge.plot_res", 96)
    width <- state$plot_pane$width
    height <- state$plot_pane$height
    if (is.null(width)) width <- getOption("filebridge.plot_width", 7) * res
    if (is.null(height)) height <- getOption("filebridge.plot_height", 5) * res
    tmp <- file.path(state$paths$folder, sprintf(".plot.%d.png", Sys.getpid()))
    with_private_umask({
      grDevices::png(tmp, width = width, height = height, res = res)
      tryCatch(grDevices::replayPlot(recorded), finally = grDevices::dev.off())
    })
    file.rename(tmp, state$paths$plot_png)
    state$plots <- state$plots + 1
    ring(state$paths$plot_lock, state$plots)
    fb$filebridge_send("plot", file = normalizePath(state$paths$plot_png, winslash = "/"),
                       file_in_session = "plot.png", format = "png", number = state$plots,
                       width = width, height = height)
    list(number = state$plots, width = width, height = height)
  }

  # Host -> worker `plot_size` {width, height (pixels), res?}: the pane's size, kept for later
  # plots; the current plot is drawn again at it at once.
  resize_plot <- function(args) {
    size <- function(v, low, high) {
      if (!is.numeric(v) || length(v) != 1L || !is.finite(v) || v < low || v > high) {
        stop("plot_size needs width and height in pixels (", low, " to ", high, ")")
      }
      round(v)
    }
    pane <- list(width = size(args$width, 16, 10000), height = size(args$height, 16, 10000))
    if (!is.null(args$res)) pane$res <- size(args$res, 24, 600)
    state$plot_pane <- pane
    dev <- state$plot_device
    if (is.null(dev) || !(dev %in% grDevices::dev.list())) return(list(number = NULL))
    current <- grDevices::dev.cur()
    on.exit(if (current %in% grDevices::dev.list()) grDevices::dev.set(current), add = TRUE)
    grDevices::dev.set(dev)
    recorded <- grDevices::recordPlot()
    if (is.null(recorded[[1]])) return(list(number = NULL))
    publish_plot_png(recorded)
  }

  # ---- per top-level call ------------------------------------------------------------------

  after_top_level_call <- function(expr, value, ok, visible) {
    if (!isTRUE(state$connected)) return(FALSE)
    if (is.null(state$heartbeat_pid)) try(beat(), silent = TRUE)
    if (isTRUE(getOption("filebridge.plot", TRUE))) {
      try(fb$filebridge_publish_plot(), silent = TRUE)
    }
    if (ok && isTRUE(getOption("filebridge.variables", TRUE))) {
      # nothing is described for a closed pane: the first snapshot, then only while a viewer
      # is subscribed (docs/protocol-variables.md)
      if (state$variables_version == 0 || watched()) {
        try(fb$filebridge_publish_variables(), silent = TRUE)
      } else {
        state$variables_stale <- TRUE
      }
    }
    try(serve_pending_commands(), silent = TRUE)
    TRUE
  }

  # ---- connect / disconnect ----------------------------------------------------------------

  fb$filebridge_connect <- function(session_dir = Sys.getenv("FILEBRIDGE_SESSION", "")) {
    "Attach this R session to a session folder (a new one under FILEBRIDGE_ROOT if none)."
    if (isTRUE(state$connected)) {
      if (!nzchar(session_dir) ||
          normalizePath(session_dir, mustWork = FALSE) == state$paths$folder) {
        return(invisible(state$info))
      }
      fb$filebridge_disconnect()
    }
    if (!nzchar(session_dir)) session_dir <- default_session_dir()
    make_private_dir(dirname(session_dir))
    make_private_dir(session_dir)
    session_dir <- normalizePath(session_dir, winslash = "/")
    state$paths <- paths_of(session_dir)
    state$answer_files <- on_network_mount(session_dir)
    state$rings <- 0
    state$log_end <- NULL
    state$rotate_at <- rotate_limit()
    state$other_writers <- FALSE
    state$request_generation <- 0
    state$request_base <- 0
    state$plots <- 0
    state$variables_version <- 0
    state$signatures <- NULL
    state$kept_variables <- NULL
    state$late_names <- character(0)
    state$over_limit_names <- character(0)
    state$variables_stale <- TRUE
    state$viewers <- numeric(0)
    forget_slow()
    state$last_plot <- NULL
    close_kept()
    # Where this process starts reading the logs: whatever they hold now is older. Taken
    # before session.json tells the host the session is here, as the host may send a command
    # the moment it sees it (one sent in between was skipped on a loaded machine).
    start_reading <- function() {
      state$answer_offset <- file.size(state$paths$response_log)
      state$answer_generation <- log_header(state$paths$response_log)$generation
      state$command_offset <- file.size(state$paths$command_log)
      state$command_generation <- log_header(state$paths$command_log)$generation
    }
    state$info <- prepare_session(state$paths, start_reading)
    state$answer_checked <- 0
    state$answer_partial <- raw(0)
    state$waiting <- character(0)
    state$arrived <- new.env(parent = emptyenv())
    state$command_pending <- raw(0)
    built_in <- list(
      ping = function(args) list(pid = Sys.getpid(), time = as.numeric(Sys.time())),
      inspect = inspect_children,
      plot_size = resize_plot,
      refresh = refresh_variables,
      view = view_path,
      clipboard_format = clipboard_path,
      query_table_summary = table_summary_path,
      table.schema = table_schema,
      table.rows = uncompiled(table_rows),
      table.profile = uncompiled(table_profile),
      table.export = uncompiled(table_export),
      table.close = table_close,
      delete = delete_variables,
      clear = clear_variables,
      retry = retry_variables,
      subscribe = subscribe_viewer,
      unsubscribe = unsubscribe_viewer)
    # handlers registered before connecting (or kept from an earlier connection) stay
    state$handlers <- c(state$handlers, built_in[setdiff(names(built_in), names(state$handlers))])
    state$connected <- TRUE
    start_heartbeat()
    watchdog()  # started now rather than inside the first snapshot's budget
    start_idle_looks()
    info <- state$info
    announce_session()
    post("attach", list(language = "r", versions = info$versions, cwd = info$cwd,
                        machine = info$machine, tempdir = info$tempdir, pid = info$pid,
                        interactive = info$interactive), FALSE)
    options(browser = browser_function, viewer = viewer_function, page_viewer = viewer_function,
            device = plot_device)
    registerS3method("print", "help_files_with_topic", print_help,
                     envir = asNamespace("utils"))
    registerS3method("print", "hsearch", print_search, envir = asNamespace("utils"))
    install_rstudioapi()
    if ("filebridge" %in% getTaskCallbackNames()) removeTaskCallback("filebridge")
    addTaskCallback(after_top_level_call, name = "filebridge")
    invisible(info)
  }

  fb$filebridge_disconnect <- function(detach = TRUE) {
    "Send detach and stop serving (also done at exit)."
    if (!isTRUE(state$connected)) return(invisible(FALSE))
    if (detach) try(post("detach", list(), FALSE), silent = TRUE)
    state$connected <- FALSE
    state$idle_generation <- state$idle_generation + 1
    close_kept()
    close_probe()
    close_watchdog(failed = FALSE)
    stop_heartbeat()
    if ("filebridge" %in% getTaskCallbackNames()) removeTaskCallback("filebridge")
    invisible(TRUE)
  }

  fb$filebridge_session <- function() {
    "The session folder this R session is attached to (NULL when not connected)."
    if (isTRUE(state$connected)) state$paths$folder else NULL
  }

  # detach at interpreter exit, also when the user never disconnects
  reg.finalizer(state, function(e) {
    if (isTRUE(e$connected)) try(fb$filebridge_disconnect(), silent = TRUE)
  }, onexit = TRUE)

  attach(fb, name = "tools:filebridge", warn.conflicts = FALSE)
})
