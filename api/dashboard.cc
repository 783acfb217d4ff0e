#include "api/dashboard.h"

#include <sys/stat.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <memory>

#ifndef WIRESCOPE_DASHBOARD_INSTALL_DIR
#define WIRESCOPE_DASHBOARD_INSTALL_DIR "/usr/local/share/wirescope/web"
#endif
#ifndef WIRESCOPE_DASHBOARD_SOURCE_DIR
#define WIRESCOPE_DASHBOARD_SOURCE_DIR ""
#endif
#ifndef WIRESCOPE_BUILD_ROOT
#define WIRESCOPE_BUILD_ROOT ""
#endif
#ifndef WIRESCOPE_VERSION
#define WIRESCOPE_VERSION "unknown"
#endif

namespace ws {
namespace {

// The largest asset read into an answer: the page's files are tens of KiB;
// anything this big in the directory is not one of them.
constexpr off_t kMaxAssetBytes = 4 << 20;

std::string real_path(const std::string& p) {
  if (p.empty()) return "";
  std::unique_ptr<char, decltype(&std::free)> r(realpath(p.c_str(), nullptr), &std::free);
  return r ? std::string(r.get()) : std::string();
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// One entity tag of an If-None-Match list matches etag (weak comparison,
// RFC 9110 13.1.2: W/ is ignored), or the list is "*".
bool etag_matches(std::string_view list, std::string_view etag) {
  size_t pos = 0;
  while (pos < list.size()) {
    size_t comma = list.find(',', pos);
    if (comma == std::string_view::npos) comma = list.size();
    std::string_view t = list.substr(pos, comma - pos);
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    if (t == "*") return true;
    if (t.substr(0, 2) == "W/") t.remove_prefix(2);
    if (t == etag) return true;
    pos = comma + 1;
  }
  return false;
}

// The page runs only its own files: no inline script, no other origin.
// connect-src 'self' takes the same host's ws: and wss: too (CSP 3).
constexpr const char* kPagePolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

}  // namespace

std::string choose_dashboard_dir(const std::string& exe, const std::string& build_root,
                                 const std::string& source_dir, const std::string& installed_dir) {
  if (exe.empty() || build_root.empty() || source_dir.empty()) return installed_dir;
  const std::string prefix = build_root.back() == '/' ? build_root : build_root + "/";
  return exe.rfind(prefix, 0) == 0 ? source_dir : installed_dir;
}

std::string default_dashboard_dir() {
  return choose_dashboard_dir(real_path("/proc/self/exe"), real_path(WIRESCOPE_BUILD_ROOT),
                              WIRESCOPE_DASHBOARD_SOURCE_DIR, WIRESCOPE_DASHBOARD_INSTALL_DIR);
}

std::string DashboardAssets::open(const std::string& dir, bool required) {
  dir_ = dir;
  root_.clear();
  const std::string root = real_path(dir);
  struct stat st;
  if (root.empty() || stat((root + "/index.html").c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    if (required)
      return "'" + dir + "' has no index.html (the dashboard's assets; api/web in the source tree)";
    return "";
  }
  root_ = root;
  return "";
}

std::string DashboardAssets::asset_name(std::string_view path) {
  if (path == "/" || path.empty()) return "index.html";
  if (path.front() != '/') return "";
  const std::string_view name = path.substr(1);
  // A name of the flat directory: no '/', no '%' (civetweb has decoded the
  // path once; what is left encoded was encoded twice), no leading dot
  // (hidden files, "." and ".."), no NUL.
  if (name.empty() || name.size() > 128 || name.front() == '.') return "";
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) return "";
  }
  if (name.find("..") != std::string_view::npos) return "";
  return std::string(name);
}

std::string DashboardAssets::content_type(std::string_view name) {
  struct Type {
    const char* ext;
    const char* type;
  };
  static constexpr Type kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".json", "application/json"},
      {".txt", "text/plain; charset=utf-8"},
      {".woff2", "font/woff2"},
  };
  for (const Type& t : kTypes)
    if (ends_with(name, t.ext)) return t.type;
  return "";
}

HttpResponse DashboardAssets::missing(std::string_view path) {
  not_found_.fetch_add(1, std::memory_order_relaxed);
  if (!available())
    return error_response(404, "the dashboard's assets are not installed: no index.html in '" + dir_ +
                                   "' (install them, or set api.dashboard_dir)");
  return error_response(404, "no dashboard file " + std::string(path));
}

HttpResponse DashboardAssets::refuse(std::string_view path) {
  // Said the same way as a missing file: a prober learns nothing from it.
  refused_.fetch_add(1, std::memory_order_relaxed);
  return error_response(404, "no dashboard file " + std::string(path));
}

HttpResponse DashboardAssets::get(std::string_view path, std::string_view if_none_match) {
  const std::string name = asset_name(path);
  if (name.empty()) return refuse(path);
  const std::string type = content_type(name);
  if (type.empty()) return refuse(path);
  if (!available()) return missing(path);
  // The real path must still be inside the directory: a symlink in it may
  // point anywhere.
  const std::string file = real_path(root_ + "/" + name);
  if (file.empty()) return missing(path);
  if (file.rfind(root_ + "/", 0) != 0) return refuse(path);
  struct stat st;
  if (stat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return missing(path);
  if (st.st_size > kMaxAssetBytes) return refuse(path);

  // Size, change time and inode: a reinstall or an edit changes at least one.
  char tag[80];
  std::snprintf(tag, sizeof tag, "\"%llx-%llx-%llx\"", static_cast<unsigned long long>(st.st_size),
                static_cast<unsigned long long>(st.st_mtim.tv_sec) * 1000000000ull +
                    static_cast<unsigned long long>(st.st_mtim.tv_nsec),
                static_cast<unsigned long long>(st.st_ino));
  HttpResponse r;
  r.content_type = type;
  r.headers.emplace_back("ETag", tag);
  // Cached, but asked again each time (304 when unchanged), so an upgrade's
  // page is seen at the next load.
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  if (name == "index.html") {
    r.headers.emplace_back("Content-Security-Policy", kPagePolicy);
    r.headers.emplace_back("X-Frame-Options", "DENY");
    r.headers.emplace_back("Referrer-Policy", "no-referrer");
  }
  if (!if_none_match.empty() && etag_matches(if_none_match, tag)) {
    not_modified_.fetch_add(1, std::memory_order_relaxed);
    r.status = 304;
    return r;
  }
  FILE* f = std::fopen(file.c_str(), "rb");
  if (!f) return missing(path);
  r.body.resize(static_cast<size_t>(st.st_size));
  const size_t got = std::fread(r.body.data(), 1, r.body.size(), f);
  std::fclose(f);
  r.body.resize(got);
  served_.fetch_add(1, std::memory_order_relaxed);
  return r;
}

std::string add_dashboard_route(Router& router, bool enabled, bool anonymous_view,
                                const DashboardAssets* assets) {
  Route r;
  r.method = "GET";
  r.path = "/api/v1/dashboard";
  r.access = Access::kOpen;
  r.summary =
      "What the web dashboard (GET /, api.dashboard) needs before it signs in: whether data may be read "
      "without "
      "a token (api.anonymous_view: as viewer, GET routes and the stream only), whether its assets are "
      "installed, and the agent's version";
  r.response_schema = "Dashboard";
  r.handler = [enabled, anonymous_view, assets](const HttpRequest&) {
    return json_response(200, {{"dashboard", enabled},
                               {"assets", enabled && assets && assets->available()},
                               {"anonymous_view", anonymous_view},
                               {"version", WIRESCOPE_VERSION},
                               {"stream", "/api/v1/stream"}});
  };
  return router.add(std::move(r));
}

void add_dashboard_schemas(nlohmann::json& s) {
  const nlohmann::json str = {{"type", "string"}};
  s["Dashboard"] = {
      {"type", "object"},
      {"properties",
       {{"dashboard", {{"type", "boolean"}, {"description", "the page is served at / (api.dashboard)"}}},
        {"assets", {{"type", "boolean"}, {"description", "the asset directory holds index.html"}}},
        {"anonymous_view",
         {{"type", "boolean"},
          {"description", "requests without a token act as viewer on GET routes and the stream"}}},
        {"version", str},
        {"stream", {{"type", "string"}, {"description", "the WebSocket path"}}}}},
      {"required", {"dashboard", "assets", "anonymous_view", "version", "stream"}}};
}

}  // namespace ws
