# A legacy vscode-R session (the extension's session code up to 2.8, its "session watcher"),
# reproduced on the wire for tests and benchmarks: what it writes, when, and how it waits.
#
#  - a request is ONE JSON object written over <watcher>/request.log by jsonlite::write_json
#    (auto_unbox, null = "null", force): `time` is Sys.time(), which jsonlite writes as a string
#    to the second, then `pid`, `wd`, `command` and the command's fields;
#  - then <watcher>/request.lock is overwritten with sprintf("%.6f", Sys.time()), no newline;
#  - a call that needs an answer adds `sd` (its own folder, <tempdir>/vscode-R), then reads
#    <sd>/response.lock with readLines() (which warns on a missing final newline) until its text
#    differs from the text it last saw (at first ""), sleeping 0.1 s between looks, and gives up
#    with an error once more than 5 s have passed; the answer is jsonlite::read_json() of
#    <sd>/response.log;
#  - the workspace is <sd>/workspace.json + workspace.lock, the plot <sd>/plot.png + plot.lock,
#    each lock a "%.6f" time; a data frame is written whole by jsonlite as a table of columns and
#    rows (NA as the string "NA") to a temporary file named in a `dataview` request;
#  - help is a `help` request naming a path on R's dynamic help server.
#
# Everything lives in the environment `legacy`.

legacy <- local({
  self <- environment()
  pid <- Sys.getpid()
  wd <- getwd()
  tmp <- tempdir()
  home <- Sys.getenv(if (.Platform$OS.type == "windows") "USERPROFILE" else "HOME")
  watcher <- Sys.getenv("VSCODE_WATCHER_DIR", file.path(home, ".vscode-R"))
  folder <- file.path(tmp, "vscode-R")
  dir.create(folder, showWarnings = FALSE, recursive = TRUE)
  answer_lock <- file.path(folder, "response.lock")
  answer_log <- file.path(folder, "response.log")
  file.create(answer_lock, answer_log, showWarnings = FALSE)
  seen_answer <- ""
  stamp <- function() sprintf("%.6f", Sys.time())

  send <- function(command, ...) {
    body <- list(time = Sys.time(), pid = pid, wd = wd, command = command, ...)
    jsonlite::write_json(body, file.path(watcher, "request.log"), auto_unbox = TRUE,
                         null = "null", force = TRUE)
    cat(stamp(), file = file.path(watcher, "request.lock"))
  }

  answer_came <- function() {
    now <- readLines(answer_lock)
    if (isTRUE(now != seen_answer)) {
      self$seen_answer <- now
      return(TRUE)
    }
    FALSE
  }

  ask <- function(command, ...) {
    send(command, ..., sd = folder)
    began <- Sys.time()
    while (!answer_came()) {
      if ((Sys.time() - began) > 5) {
        stop("Did not receive a response from VSCode-R API within 5 seconds.")
      }
      Sys.sleep(0.1)
    }
    jsonlite::read_json(answer_log)
  }

  rstudioapi <- function(action, ...) ask("rstudioapi", action = action, args = list(...))

  attach <- function() {
    send("attach", version = sprintf("%s.%s", R.version$major, R.version$minor),
         tempdir = tmp,
         info = list(command = commandArgs()[[1L]], version = R.version.string,
                     start_time = format(file.info(tmp)$ctime)),
         plot_url = NULL, server = NULL)
  }

  publish_workspace <- function(names = ls(globalenv())) {
    describe <- function(name) {
      value <- get(name, envir = globalenv())
      entry <- list(class = class(value), type = jsonlite::unbox(typeof(value)),
                    length = jsonlite::unbox(length(value)),
                    str = jsonlite::unbox(trimws(paste(utils::capture.output(
                      utils::str(value, max.level = 0, give.attr = FALSE, vec.len = 1)),
                      collapse = "\n"))))
      if (is.recursive(value) && length(names(value))) entry$names <- names(value)
      if (!is.null(dim(value))) entry$dim <- dim(value)
      entry
    }
    env <- lapply(names, describe)
    names(env) <- names
    body <- list(search = search()[-1], loaded_namespaces = loadedNamespaces(),
                 globalenv = env)
    jsonlite::write_json(body, file.path(folder, "workspace.json"), force = TRUE,
                         pretty = FALSE)
    cat(stamp(), file = file.path(folder, "workspace.lock"))
  }

  publish_plot <- function(draw = function() graphics::plot(1:10)) {
    grDevices::png(file.path(folder, "plot.png"))
    draw()
    grDevices::dev.off()
    cat(stamp(), file = file.path(folder, "plot.lock"))
  }

  # The table vscode-R's View() writes: a "(row)" column, then one per column, fields x1, x2...
  table_of <- function(data) {
    n <- nrow(data)
    labels <- c("(row)", trimws(colnames(data)))
    rows <- if (.row_names_info(data) > 0L) rownames(data) else seq_len(n)
    columns <- c(list(rows), unclass(data))
    fields <- sprintf("x%d", seq_along(labels))
    names(columns) <- fields
    frame <- structure(columns, class = "data.frame", row.names = .set_row_names(n))
    kinds <- vapply(columns, function(v) {
      if (is.numeric(v)) "numericColumn" else if (inherits(v, "Date")) "dateColumn" else
        "textColumn"
    }, "")
    defs <- lapply(seq_along(labels), function(i) {
      list(headerName = labels[i], field = fields[i], type = kinds[[i]],
           headerTooltip = sprintf("%s, class: [%s], type: %s", labels[i],
                                   toString(class(columns[[i]])), typeof(columns[[i]])))
    })
    list(columns = defs, data = frame)
  }

  view <- function(data, title = deparse(substitute(data), nlines = 1)) {
    file <- tempfile(tmpdir = tmp, fileext = ".json")
    jsonlite::write_json(table_of(data), file, na = "string", null = "null",
                         auto_unbox = TRUE, force = TRUE)
    send("dataview", source = "table", type = "json", title = title, file = file,
         viewer = "Two", uuid = NULL)
    invisible(file)
  }

  help_page <- function(topic, package) {
    file <- utils::help(topic, package = (package))[1]
    send("help", requestPath = paste0("/library/", basename(dirname(dirname(file))),
                                      "/html/", basename(file), ".html"), viewer = "Two")
  }

  detach <- function() send("detach")
  self
})
