#include "dataplane/capture/gns3_config.h"

#include <yaml-cpp/yaml.h>

#include <set>

#include "dataplane/capture/gns3_client.h"

namespace ws {
namespace {

struct Gns3ConfigError {
  std::string msg;
};

class Reader {
 public:
  explicit Reader(const std::string& file) : file_(file) {}

  [[noreturn]] void fail(const YAML::Node& n, const std::string& what) const {
    throw Gns3ConfigError{file_ + ":" + std::to_string(n.Mark().line + 1) + ": " + what};
  }
  std::string scalar(const YAML::Node& n, const std::string& key) const {
    if (!n.IsScalar()) fail(n, key + ": expected a value, got a " + (n.IsMap() ? "map" : n.IsNull() ? "null" : "list"));
    return n.Scalar();
  }
  // Each key of map n goes to its handler; an unknown key lists the known ones.
  template <typename F>
  void map(const YAML::Node& n, const std::string& where, const std::set<std::string>& known, F&& f) const {
    if (!n.IsMap()) fail(n, where + ": expected a map");
    for (const auto& kv : n) {
      const std::string k = kv.first.Scalar();
      if (!known.count(k)) {
        std::string list;
        for (const auto& e : known) list += (list.empty() ? "" : ", ") + e;
        fail(kv.first, "unknown key '" + where + "." + k + "' (known here: " + list + ")");
      }
      f(k, kv.second, where + "." + k);
    }
  }

 private:
  const std::string& file_;
};

}  // namespace

const char* gns3_api_name(Gns3Api a) { return a == Gns3Api::kV3 ? "v3" : "v2"; }

std::string parse_gns3_config(const YAML::Node& node, const std::string& file, Gns3Config* out) {
  const Reader r(file);
  Gns3Config c;
  std::vector<YAML::Node> capture_nodes;  // for errors found once both lists are read
  try {
    if (node.IsNull()) {
      *out = c;
      return "";
    }
    r.map(node, "gns3", {"servers", "capture"}, [&](const std::string& k, const YAML::Node& v, const std::string& where) {
      if (!v.IsSequence()) r.fail(v, where + ": expected a list");
      if (k == "servers") {
        for (size_t i = 0; i < v.size(); ++i) {
          const YAML::Node& s = v[i];
          const std::string at = where + "[" + std::to_string(i) + "]";
          Gns3ServerConfig sc;
          r.map(s, at, {"name", "url", "api", "user", "username", "password"},
                [&](const std::string& sk, const YAML::Node& sv, const std::string& sw) {
                  const std::string val = r.scalar(sv, sw);
                  if (sk == "name") sc.name = val;
                  else if (sk == "url") {
                    Gns3Url u;
                    std::string err;
                    if (!gns3_parse_url(val, &u, &err)) r.fail(sv, sw + ": " + err);
                    sc.url = val;
                  } else if (sk == "api") {
                    if (val == "v2") sc.api = Gns3Api::kV2;
                    else if (val == "v3") sc.api = Gns3Api::kV3;
                    else r.fail(sv, sw + ": expected v2 or v3, got '" + val + "'");
                  } else if (sk == "user" || sk == "username") sc.user = val;
                  else sc.password = val;
                });
          if (sc.name.empty()) r.fail(s, at + ": a server needs a name");
          if (sc.url.empty()) r.fail(s, at + ": server '" + sc.name + "' needs a url");
          if (sc.api == Gns3Api::kV3 && sc.user.empty())
            r.fail(s, at + ": server '" + sc.name + "' (api v3) needs user and password for its login");
          for (const auto& o : c.servers)
            if (o.name == sc.name) r.fail(s, at + ": server name '" + sc.name + "' is used twice");
          c.servers.push_back(std::move(sc));
        }
      } else {
        for (size_t i = 0; i < v.size(); ++i) {
          const YAML::Node& e = v[i];
          const std::string at = where + "[" + std::to_string(i) + "]";
          Gns3CaptureConfig cc;
          r.map(e, at, {"server", "project", "links"},
                [&](const std::string& ek, const YAML::Node& ev, const std::string& ew) {
                  if (ek == "server") cc.server = r.scalar(ev, ew);
                  else if (ek == "project") cc.project = r.scalar(ev, ew);
                  else if (ev.IsScalar()) {
                    if (ev.Scalar() != "all") r.fail(ev, ew + ": expected all or a list of link ids, got '" + ev.Scalar() + "'");
                    cc.all_links = true;
                  } else if (ev.IsSequence()) {
                    cc.all_links = false;
                    for (const auto& l : ev) cc.links.push_back(r.scalar(l, ew));
                    if (cc.links.empty()) r.fail(ev, ew + ": an empty list captures nothing; use all or name links");
                  } else {
                    r.fail(ev, ew + ": expected all or a list of link ids");
                  }
                });
          if (cc.server.empty()) r.fail(e, at + ": a capture needs a server");
          if (cc.project.empty()) r.fail(e, at + ": a capture needs a project (name or id)");
          c.capture.push_back(std::move(cc));
          capture_nodes.push_back(e);
        }
      }
    });
    for (size_t i = 0; i < c.capture.size(); ++i) {
      bool known = false;
      for (const auto& s : c.servers) known |= s.name == c.capture[i].server;
      if (!known)
        r.fail(capture_nodes[i], "gns3.capture[" + std::to_string(i) + "]: server '" + c.capture[i].server +
                                     "' is not in gns3.servers");
    }
  } catch (const Gns3ConfigError& e) {
    return e.msg;
  }
  *out = std::move(c);
  return "";
}

}  // namespace ws
