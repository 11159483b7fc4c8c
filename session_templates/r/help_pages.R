# filebridge: R help pages rendered to files, for a viewer that only serves a folder.
#
#   Rscript help_pages.R <request path> <output folder>
#   source("help_pages.R"); filebridge_help_pages(request_path, out_dir)
#
# The request path is that of R's dynamic help server: "/library/<pkg>/html/<name>.html" for a
# page, "/doc/html/Search?pattern=...&fields.alias=1..." for a search. Pages are written to
# <out>/library/<pkg>/html/<name>.html with R's own style sheet beside them and links between
# pages kept relative, so that the folder is a small help site: the page asked for, and every
# page it links to (or that a search found), are rendered; links further on lead to pages that
# exist only once one of those is asked for. Math is left as R's plain-text rendering: nothing
# is loaded from a CDN. The result is one line of JSON on stdout: page, title, topic, package.

# Every installed topic's page (about a second to build): kept for the process's later pages.
filebridge_help_links <- local({
  db <- NULL
  function() {
    if (is.null(db)) db <<- tools::findHTMLlinks(level = 0:2)
    db
  }
})

filebridge_help_pages <- function(request_path, out_dir, linked_pages = 60L,
                                  on_ready = function(answer) NULL) {
  style <- file.path(R.home("doc"), "html", "R.css")
  links <- filebridge_help_links
  render <- function(pkg, name) {
    if (!grepl("^[A-Za-z0-9._-]+$", pkg) || !grepl("^[^/\\\\]+$", name)) return(NULL)
    dir <- file.path(out_dir, "library", pkg, "html")
    out <- file.path(dir, paste0(name, ".html"))
    if (file.exists(out)) return(out)
    where <- find.package(pkg, quiet = TRUE)
    if (!length(where)) return(NULL)
    rd <- tryCatch(utils:::.getHelpFile(file.path(where, "help", name)),
                   error = function(e) NULL)
    if (is.null(rd)) return(NULL)
    dir.create(dir, recursive = TRUE, showWarnings = FALSE, mode = "0700")
    if (!file.exists(file.path(dir, "R.css"))) file.copy(style, file.path(dir, "R.css"))
    # two renders of one page may run at once (a legacy request read twice): each its own tmp
    tmp <- paste0(out, ".", Sys.getpid(), ".tmp")
    ok <- tryCatch({
      tools::Rd2HTML(rd, tmp, package = pkg, Links = links(), stylesheet = "R.css",
                     texmath = "none")
      TRUE
    }, error = function(e) FALSE)
    if (!ok) return(NULL)
    resolve_topics(tmp)
    file.rename(tmp, out)
    out
  }
  aliases <- new.env(parent = emptyenv())
  file_of <- function(pkg, topic) {
    if (is.null(aliases[[pkg]])) {
      where <- find.package(pkg, quiet = TRUE)
      aliases[[pkg]] <- if (length(where)) tryCatch(
        readRDS(file.path(where, "help", "aliases.rds")), error = function(e) character()
      ) else character()
    }
    unname(aliases[[pkg]][topic])
  }
  # Rd2HTML writes a link to a topic it cannot place as "../../<pkg>/help/<topic>.html" (a
  # route of the dynamic help server); the package's own alias table names the page.
  resolve_topics <- function(page) {
    html <- readLines(page, warn = FALSE)
    hits <- grepl("/help/", html, fixed = TRUE)
    if (!any(hits)) return(invisible())
    pattern <- 'href="\\.\\./\\.\\./([^/"]+)/help/([^"#]+)\\.html'
    html[hits] <- vapply(html[hits], function(line) {
      found <- regmatches(line, gregexpr(pattern, line))[[1]]
      for (link in unique(found)) {
        parts <- regmatches(link, regexec(pattern, link))[[1]]
        file <- file_of(parts[2], utils::URLdecode(parts[3]))
        if (!is.na(file)) line <- gsub(link, paste0('href="../../', parts[2], "/html/", file,
                                                    ".html"), line, fixed = TRUE)
      }
      line
    }, "", USE.NAMES = FALSE)
    writeLines(html, page, useBytes = TRUE)
  }
  linked <- function(page) {
    html <- paste(readLines(page, warn = FALSE), collapse = "\n")
    found <- regmatches(html, gregexpr('href="\\.\\./\\.\\./[^/"]+/html/[^"#/]+\\.html', html))[[1]]
    unique(sub('^href="\\.\\./\\.\\./', "", found))
  }
  render_linked <- function(targets) {
    for (target in utils::head(targets, linked_pages)) {
      parts <- strsplit(target, "/", fixed = TRUE)[[1]]
      render(parts[1], sub("\\.html$", "", parts[3]))
    }
  }
  answer <- function(page, title, topic, package) {
    list(page = substring(normalizePath(page), nchar(normalizePath(out_dir)) + 2L),
         title = title, topic = topic, package = package)
  }

  path <- sub("^/+", "/", request_path)
  if (grepl("^/library/[^/]+/html/[^/]+\\.html$", path)) {
    parts <- strsplit(path, "/", fixed = TRUE)[[1]]
    pkg <- parts[3]
    name <- sub("\\.html$", "", parts[5])
    page <- render(pkg, name)
    if (is.null(page)) stop("no help page ", name, " in package ", pkg)
    result <- answer(page, paste0("Help: ", name, " {", pkg, "}"), name, pkg)
    on_ready(result)
    render_linked(linked(page))
    return(result)
  }
  if (grepl("^/doc/html/Search\\?", path)) {
    query <- strsplit(sub("^[^?]*\\?", "", path), "&", fixed = TRUE)[[1]]
    keys <- sub("=.*$", "", query)
    values <- vapply(sub("^[^=]*=?", "", query), utils::URLdecode, "")
    pattern <- values[match("pattern", keys)]
    if (is.na(pattern) || !nzchar(pattern)) stop("a help search needs a pattern")
    fields <- sub("^fields\\.", "", keys[startsWith(keys, "fields.")])
    if (!length(fields)) fields <- c("alias", "title", "concept")
    package <- values[match("package", keys)]
    found <- utils::help.search(pattern, fields = fields,
                                package = if (is.na(package)) NULL else strsplit(package, ";")[[1]],
                                ignore.case = !identical(values[match("ignore.case", keys)], "0"),
                                types = "help")
    return(answer(filebridge_help_search_page(found, pattern, out_dir, render),
                  paste0("Help search: ", pattern), pattern, ""))
  }
  stop("not a help page or search: ", request_path)
}

filebridge_help_search_page <- function(found, pattern, out_dir, render) {
  hits <- found$matches
  escape <- function(x) {
    x <- gsub("&", "&amp;", x, fixed = TRUE)
    x <- gsub("<", "&lt;", x, fixed = TRUE)
    gsub(">", "&gt;", x, fixed = TRUE)
  }
  dir <- file.path(out_dir, "doc", "html")
  dir.create(dir, recursive = TRUE, showWarnings = FALSE, mode = "0700")
  file.copy(file.path(R.home("doc"), "html", "R.css"), file.path(dir, "R.css"))
  rows <- character()
  total <- 0L
  if (NROW(hits)) {
    hits <- hits[!duplicated(hits[, c("Package", "Name")]), , drop = FALSE]
    # What a person most likely wants first: the topic itself, then R's own packages, then
    # the rest in R's order (by package); only the first 60 are listed.
    exact <- tolower(hits$Topic) == tolower(pattern) | tolower(hits$Name) == tolower(pattern)
    base <- hits$Package %in% c("base", "stats", "utils", "graphics", "grDevices", "methods",
                                "datasets", "tools", "grid", "parallel", "splines", "stats4")
    hits <- hits[order(!exact, !base, seq_len(NROW(hits))), , drop = FALSE]
    total <- NROW(hits)
    for (i in seq_len(min(NROW(hits), 60L))) {
      pkg <- hits$Package[i]
      name <- hits$Name[i]
      rendered <- !is.null(render(pkg, name))
      label <- paste0(escape(pkg), "::", escape(hits$Topic[i]))
      link <- if (rendered) paste0('<a href="../../library/', utils::URLencode(pkg), "/html/",
                                   utils::URLencode(name), '.html">', label, "</a>") else label
      rows <- c(rows, paste0("<tr><td>", link, "</td><td>", escape(hits$Title[i]),
                             "</td></tr>"))
    }
  }
  shown <- if (total > length(rows)) paste0("<p>The first ", length(rows), " of ", total,
                                            " pages found.</p>") else ""
  body <- if (length(rows)) paste0(shown, "<table>", paste(rows, collapse = "\n"),
                                   "</table>") else "<p>No help pages found.</p>"
  html <- paste0('<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Search results',
                 '</title><link rel="stylesheet" href="R.css"></head><body>',
                 "<h2>Help pages matching <code>", escape(pattern), "</code></h2>\n", body,
                 "\n</body></html>\n")
  hex <- paste(sprintf("%02x", as.integer(charToRaw(pattern))), collapse = "")
  out <- file.path(dir, paste0("search-", substr(hex, 1L, 64L), ".html"))
  writeLines(html, out, useBytes = TRUE)
  out
}

if (!interactive() && length(commandArgs(TRUE)) == 2L && sys.nframe() == 0L) {
  local({
    args <- commandArgs(TRUE)
    said <- FALSE
    say <- function(result) {
      if (said) return()
      said <<- TRUE
      cat(jsonlite::toJSON(result, auto_unbox = TRUE), "\n", sep = "")
      flush(stdout())
    }
    say(tryCatch(filebridge_help_pages(args[1], args[2], on_ready = say),
                 error = function(e) list(error = conditionMessage(e))))
  })
}
