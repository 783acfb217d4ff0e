// The web dashboard: its static assets (index.html, app.js, app.css) on the
// API listener, and the open route the page starts from.
//
// The assets are a flat directory of files the page needs and nothing
// else, so a request names one file or none: GET / is index.html, GET
// /NAME is the file NAME. Anything that is not a plain name ([A-Za-z0-9._-],
// not starting with a dot) is refused before the file system is asked, and
// a name that resolves (through a symlink) to a file outside the directory
// is refused after; both answer 404 like a missing file and are counted, so
// probing the listener for files shows up without telling the prober which
// guess came close.
//
// The page itself holds no data, so the assets are public whatever
// api.metrics_auth says; the data behind it (REST routes, the stream)
// needs a token, or api.anonymous_view.
//
// Where the assets are: api.dashboard_dir when set (it must hold
// index.html, else the agent refuses to start); otherwise the installed
// <datadir>/wirescope/web, except for a binary that runs from the Meson
// build directory it was built in, which serves the source tree's api/web
// (so a developer's build shows the page as edited, not an older install).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "api/http.h"
#include "api/router.h"

namespace ws {

// The asset directory to use when api.dashboard_dir is not set: source_dir
// when exe (the running binary's real path) is inside build_root, else
// installed_dir. Empty build_root or exe: installed_dir.
std::string choose_dashboard_dir(const std::string& exe, const std::string& build_root,
                                 const std::string& source_dir, const std::string& installed_dir);
// choose_dashboard_dir() for this binary, with the directories Meson
// compiled in.
std::string default_dashboard_dir();

class DashboardAssets {
 public:
  // Takes dir as the asset directory. required: an explicitly configured
  // directory must hold index.html (returns why not); otherwise a missing
  // one only makes every asset answer 404 with a message saying where it
  // looked. Returns "" or the problem.
  std::string open(const std::string& dir, bool required);

  // Whether the directory holds index.html.
  bool available() const { return !root_.empty(); }
  const std::string& dir() const { return dir_; }

  // The answer to GET (or HEAD) path, a decoded request path. if_none_match:
  // the request's If-None-Match header, or empty.
  HttpResponse get(std::string_view path, std::string_view if_none_match);

  // A plain asset name of a request path ("" for "/" → "index.html"), or
  // "" when the path is not one (a traversal, a subdirectory, a hidden
  // file, an encoded character).
  static std::string asset_name(std::string_view path);
  // Content-Type by file name; empty for a type the dashboard does not serve.
  static std::string content_type(std::string_view name);

  uint64_t served() const { return served_.load(std::memory_order_relaxed); }
  uint64_t not_modified() const { return not_modified_.load(std::memory_order_relaxed); }
  uint64_t not_found() const { return not_found_.load(std::memory_order_relaxed); }
  // Paths refused as unsafe: not a plain name, an unserved type, or a file
  // outside the directory.
  uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }

 private:
  HttpResponse missing(std::string_view path);
  HttpResponse refuse(std::string_view path);

  std::string dir_;   // as configured
  std::string root_;  // its real path, when it holds index.html
  std::atomic<uint64_t> served_{0}, not_modified_{0}, not_found_{0}, refused_{0};
};

// GET /api/v1/dashboard (open): what the page needs before it signs in —
// whether it may read data without a token, whether the assets are there,
// and the agent's version. assets must outlive the router.
std::string add_dashboard_route(Router& router, bool enabled, bool anonymous_view,
                                const DashboardAssets* assets);
// components.schemas: "Dashboard".
void add_dashboard_schemas(nlohmann::json& schemas);

}  // namespace ws
