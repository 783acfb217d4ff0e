#include "api/router.h"

namespace ws {
namespace {

std::vector<std::string> split_path(const std::string& p) {
  std::vector<std::string> out;
  size_t pos = 1;  // paths start with '/'
  while (pos <= p.size()) {
    size_t slash = p.find('/', pos);
    if (slash == std::string::npos) slash = p.size();
    out.push_back(p.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return out;
}

bool is_param(const std::string& seg) { return seg.size() > 2 && seg.front() == '{' && seg.back() == '}'; }

}  // namespace

std::vector<std::string> Router::template_params(const std::string& tmpl) {
  std::vector<std::string> out;
  for (const std::string& seg : split_path(tmpl))
    if (is_param(seg)) out.push_back(seg.substr(1, seg.size() - 2));
  return out;
}

std::string Router::add(Route r) {
  if (r.path.empty() || r.path.front() != '/') return "route path '" + r.path + "' must start with '/'";
  if (!r.handler) return "route " + r.method + " " + r.path + " has no handler";
  for (const std::string& seg : split_path(r.path)) {
    if (seg.empty() && r.path != "/") return "route path '" + r.path + "' has an empty segment";
    if (!is_param(seg) && (seg.find('{') != std::string::npos || seg.find('}') != std::string::npos))
      return "route path '" + r.path + "': a {param} must be a whole segment";
  }
  for (const Route& o : routes_)
    if (o.method == r.method && o.path == r.path) return "route " + r.method + " " + r.path + " is already there";
  routes_.push_back(std::move(r));
  return "";
}

RouteMatch Router::match(const std::string& method, const std::string& path) const {
  RouteMatch m;
  if (path.empty() || path.front() != '/') return m;
  const std::vector<std::string> segs = split_path(path);
  // Among the templates that fit the path, the one with the most literal
  // segments; the method is checked only after that, so that a path that
  // exists with another method answers 405 rather than 404.
  int best_literals = -1;
  std::vector<const Route*> fits;
  std::vector<std::map<std::string, std::string>> fit_params;
  for (const Route& r : routes_) {
    const std::vector<std::string> t = split_path(r.path);
    if (t.size() != segs.size()) continue;
    int literals = 0;
    bool ok = true;
    std::map<std::string, std::string> params;
    for (size_t i = 0; i < t.size() && ok; ++i) {
      if (is_param(t[i])) {
        if (segs[i].empty()) ok = false;
        else params[t[i].substr(1, t[i].size() - 2)] = segs[i];  // the server passes a decoded path
      } else {
        ok = t[i] == segs[i];
        ++literals;
      }
    }
    if (!ok) continue;
    if (literals > best_literals) {
      best_literals = literals;
      fits.clear();
      fit_params.clear();
    }
    if (literals == best_literals) {
      fits.push_back(&r);
      fit_params.push_back(std::move(params));
    }
  }
  for (size_t i = 0; i < fits.size(); ++i) {
    if (fits[i]->method == method) {
      m.route = fits[i];
      m.params = std::move(fit_params[i]);
      return m;
    }
    m.allowed.push_back(fits[i]->method);
  }
  return m;
}

}  // namespace ws
