#include "dataplane/qos/tc_host.h"

#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/class.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/fifo.h>
#include <netlink/route/qdisc/fq_codel.h>
#include <netlink/route/qdisc/htb.h>
#include <netlink/route/tc.h>
#include <netlink/socket.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace ws {

namespace {

// Line rate when the interface does not say (veth, tun): high enough never
// to be the bottleneck of unmatched traffic.
constexpr uint64_t kUnknownLineRateBps = 100'000'000'000ull;

uint64_t line_rate(const std::string& ifname) {
  std::ifstream f("/sys/class/net/" + ifname + "/speed");
  long long mbit = -1;
  if (f >> mbit && mbit > 0) return uint64_t(mbit) * 1'000'000;
  return kUnknownLineRateBps;
}

std::string handle_text(uint32_t h) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%x:%x", h >> 16, h & 0xffff);
  return buf;
}

std::string major_text(uint32_t h) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%x:", h >> 16);
  return buf;
}

const char* probe_name(TcCaps::Probe p) {
  switch (p) {
    case TcCaps::Probe::kAbsent:
      return "absent";
    case TcCaps::Probe::kPresent:
      return "present";
    default:
      return "unknown";
  }
}

// The kernel's answer to a request: errno and, with NETLINK_EXT_ACK, the
// message it attached (NLMSGERR_ATTR_MSG).
int on_error(struct sockaddr_nl*, struct nlmsgerr* err, void* arg) {
  auto* ack = static_cast<std::pair<int*, std::string*>*>(arg);
  *ack->first = err->error;
  ack->second->clear();
  const auto* h = reinterpret_cast<const nlmsghdr*>(reinterpret_cast<const char*>(err) - NLMSG_HDRLEN);
  if (h->nlmsg_flags & NLM_F_ACK_TLVS) {
    size_t off = sizeof(nlmsgerr);
    if (!(h->nlmsg_flags & NLM_F_CAPPED)) off += err->msg.nlmsg_len - NLMSG_HDRLEN;
    const size_t total = h->nlmsg_len - NLMSG_HDRLEN;
    while (off + NLA_HDRLEN <= total) {
      const auto* a = reinterpret_cast<const nlattr*>(reinterpret_cast<const char*>(err) + off);
      if (a->nla_len < NLA_HDRLEN || off + a->nla_len > total) break;
      if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
        const char* s = reinterpret_cast<const char*>(a) + NLA_HDRLEN;
        *ack->second = std::string(s, strnlen(s, a->nla_len - NLA_HDRLEN));
      }
      off += NLA_ALIGN(a->nla_len);
    }
  }
  return NL_STOP;
}

// libnl objects freed at the end of a scope.
struct QdiscPtr {
  rtnl_qdisc* p = rtnl_qdisc_alloc();
  ~QdiscPtr() { rtnl_qdisc_put(p); }
};
struct ClassPtr {
  rtnl_class* p = rtnl_class_alloc();
  ~ClassPtr() { rtnl_class_put(p); }
};
struct ClsPtr {
  rtnl_cls* p = rtnl_cls_alloc();
  ~ClsPtr() { rtnl_cls_put(p); }
};
struct CachePtr {
  nl_cache* p = nullptr;
  ~CachePtr() {
    if (p) nl_cache_free(p);
  }
};

}  // namespace

TcHost::TcHost(std::string interface) : interface_(std::move(interface)) {}

TcHost::~TcHost() {
  if (installed()) {
    if (std::string e = remove(); e.empty())
      std::fprintf(stderr, "wirescope: qos: removed the tc tree from %s\n", interface_.c_str());
  }
  if (sk_) nl_socket_free(sk_);
}

bool TcHost::installed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return installed_;
}

std::string TcHost::leaf_qdisc() const {
  std::lock_guard<std::mutex> lock(mu_);
  return leaf_kind_;
}

std::string TcHost::fail(const std::string& op, int rc, bool quiet) {
  std::string why = ack_.message;
  if (ack_.error < 0) {
    const std::string sys = std::strerror(-ack_.error);
    why = why.empty() ? sys : why + " (" + sys + ")";
  }
  if (why.empty()) why = nl_geterror(rc);
  const std::string e = op + ": " + why;
  if (!quiet) {
    errors_[op.substr(0, op.find(' '))]++;
    last_error_ = e;
    std::fprintf(stderr, "wirescope: qos: tc on %s: %s\n", interface_.c_str(), e.c_str());
  }
  return e;
}

TcCaps::Probe TcHost::probe_action(const char* kind) {
  nl_msg* msg = nlmsg_alloc_simple(RTM_NEWACTION, NLM_F_CREATE | NLM_F_EXCL);
  if (!msg) return TcCaps::Probe::kUnknown;
  tcamsg t{};
  t.tca_family = AF_UNSPEC;
  nlattr *tab = nullptr, *one = nullptr;
  if (nlmsg_append(msg, &t, sizeof t, NLMSG_ALIGNTO) < 0 || !(tab = nla_nest_start(msg, TCA_ACT_TAB)) ||
      !(one = nla_nest_start(msg, 1)) || nla_put_string(msg, TCA_ACT_KIND, kind) < 0) {
    nlmsg_free(msg);
    return TcCaps::Probe::kUnknown;
  }
  nla_nest_end(msg, one);
  nla_nest_end(msg, tab);
  ack_ = {};
  const int rc = nl_send_sync(sk_, msg);  // frees msg
  // Without parameters a present action refuses (EINVAL); an absent one
  // is "Failed to load TC action module" (ENOENT).
  if (rc < 0 && ack_.error == -ENOENT) return TcCaps::Probe::kAbsent;
  if (rc < 0 && (ack_.error == -EPERM || ack_.error == 0)) return TcCaps::Probe::kUnknown;
  return TcCaps::Probe::kPresent;
}

std::string TcHost::open() {
  std::lock_guard<std::mutex> lock(mu_);
  ifindex_ = static_cast<int>(if_nametoindex(interface_.c_str()));
  if (ifindex_ == 0) return "qos.interface " + interface_ + ": " + std::strerror(errno);
  sk_ = nl_socket_alloc();
  if (!sk_) return "qos: cannot allocate a netlink socket";
  if (int rc = nl_connect(sk_, NETLINK_ROUTE); rc < 0) return std::string("qos: netlink: ") + nl_geterror(rc);
  // The kernel's own words with each error, and without the request echoed.
  const int one = 1;
  setsockopt(nl_socket_get_fd(sk_), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  setsockopt(nl_socket_get_fd(sk_), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  ack_arg_ = {&ack_.error, &ack_.message};
  nl_socket_modify_err_cb(sk_, NL_CB_CUSTOM, on_error, &ack_arg_);

  // The root qdisc: the kernel's default, a tree of a previous run, or someone else's.
  std::string what;
  const Root root = read_root(&what);
  if (root == Root::kUnreadable) return "qos: " + what;
  if (root == Root::kForeign)
    return "qos.interface " + interface_ + " already has a root qdisc (" + what +
           ") that wirescope did not install; remove it (tc qdisc del dev " + interface_ +
           " root) or shape another interface";
  if (root == Root::kOurs) {
    installed_ = true;
    if (std::string e = delete_root(); !e.empty()) return "qos: removing the tree a previous run left: " + e;
    std::fprintf(stderr, "wirescope: qos: removed the tc tree a previous run left on %s\n",
                 interface_.c_str());
  }
  caps_.police = probe_action("police");
  caps_.pedit = probe_action("pedit");
  std::fprintf(stderr, "wirescope: qos: tc on %s (u32 filters, HTB classes); act_police %s, act_pedit %s\n",
               interface_.c_str(), probe_name(caps_.police), probe_name(caps_.pedit));
  return "";
}

TcHost::Root TcHost::read_root(std::string* what) {
  CachePtr qdiscs;
  ack_ = {};
  if (int rc = rtnl_qdisc_alloc_cache(sk_, &qdiscs.p); rc < 0) {
    *what = fail("dump qdiscs", rc);
    return Root::kUnreadable;
  }
  rtnl_qdisc* root = rtnl_qdisc_get_by_parent(qdiscs.p, ifindex_, TC_H_ROOT);
  if (!root) return Root::kDefault;
  const uint32_t handle = rtnl_tc_get_handle(TC_CAST(root));
  const char* kind = rtnl_tc_get_kind(TC_CAST(root));
  const bool ours = handle == TC_HANDLE(kTcRootMajor, 0) && kind && std::strcmp(kind, "htb") == 0 &&
                    rtnl_htb_get_defcls(root) == kTcDefaultMinor;
  *what = std::string(kind ? kind : "?") + " " + major_text(handle);
  rtnl_qdisc_put(root);
  if (ours) return Root::kOurs;
  return handle == 0 ? Root::kDefault : Root::kForeign;
}

std::string TcHost::delete_root() {
  QdiscPtr q;
  rtnl_tc_set_ifindex(TC_CAST(q.p), ifindex_);
  rtnl_tc_set_parent(TC_CAST(q.p), TC_H_ROOT);
  rtnl_tc_set_handle(TC_CAST(q.p), TC_HANDLE(kTcRootMajor, 0));
  // With the kind, the kernel deletes only an HTB.
  rtnl_tc_set_kind(TC_CAST(q.p), "htb");
  ack_ = {};
  if (int rc = rtnl_qdisc_delete(sk_, q.p); rc < 0) {
    const bool no_device = ack_.error == -ENODEV;
    const std::string e = fail("delete qdisc htb " + major_text(TC_HANDLE(kTcRootMajor, 0)) + " (root)", rc);
    // Gone already (someone deleted it, or the interface went away):
    // nothing of ours is left to delete.
    std::string what;
    if (no_device || read_root(&what) != Root::kOurs) {
      std::fprintf(stderr, "wirescope: qos: tc on %s: the tree is gone already\n", interface_.c_str());
      installed_ = false;
      return "";
    }
    return e;
  }
  installed_ = false;
  return "";
}

std::string TcHost::add_leaf(const TcClassPlan& c) {
  for (;;) {
    const bool fq = leaf_kind_ != "pfifo";
    QdiscPtr q;
    rtnl_tc_set_ifindex(TC_CAST(q.p), ifindex_);
    rtnl_tc_set_parent(TC_CAST(q.p), TC_HANDLE(kTcRootMajor, c.minor));
    rtnl_tc_set_handle(TC_CAST(q.p), TC_HANDLE(c.minor, 0));
    rtnl_tc_set_kind(TC_CAST(q.p), fq ? "fq_codel" : "pfifo");
    if (fq)
      rtnl_qdisc_fq_codel_set_limit(q.p, static_cast<int>(c.leaf_limit));
    else
      rtnl_qdisc_fifo_set_limit(q.p, static_cast<int>(c.leaf_limit));
    ack_ = {};
    const int rc = rtnl_qdisc_add(sk_, q.p, NLM_F_CREATE | NLM_F_EXCL);
    const std::string op = std::string("add qdisc ") + (fq ? "fq_codel " : "pfifo ") +
                           major_text(TC_HANDLE(c.minor, 0)) + " (leaf of " +
                           handle_text(TC_HANDLE(kTcRootMajor, c.minor)) + ")";
    if (rc >= 0) {
      if (leaf_kind_.empty()) {
        leaf_kind_ = "fq_codel";
        std::fprintf(stderr, "wirescope: qos: tc on %s: shaped classes get fq_codel leaves\n",
                     interface_.c_str());
      }
      return "";
    }
    // The first shaped class probes fq_codel: "Specified qdisc kind is unknown".
    if (fq && leaf_kind_.empty() && ack_.error == -ENOENT) {
      const std::string why = fail(op, rc, true);
      leaf_kind_ = "pfifo";
      std::fprintf(stderr, "wirescope: qos: tc on %s: no fq_codel (%s); shaped classes get pfifo leaves\n",
                   interface_.c_str(), why.c_str());
      continue;
    }
    return fail(op, rc);
  }
}

std::string TcHost::build(const TcPlan& plan) {
  {
    QdiscPtr q;
    rtnl_tc_set_ifindex(TC_CAST(q.p), ifindex_);
    rtnl_tc_set_parent(TC_CAST(q.p), TC_H_ROOT);
    rtnl_tc_set_handle(TC_CAST(q.p), TC_HANDLE(kTcRootMajor, 0));
    rtnl_tc_set_kind(TC_CAST(q.p), "htb");
    rtnl_htb_set_defcls(q.p, kTcDefaultMinor);
    ack_ = {};
    // EXCL: a root someone installed meanwhile is not replaced.
    if (int rc = rtnl_qdisc_add(sk_, q.p, NLM_F_CREATE | NLM_F_EXCL); rc < 0)
      return fail("add qdisc htb " + major_text(TC_HANDLE(kTcRootMajor, 0)) + " (root)", rc);
    installed_ = true;
  }
  auto add_class = [&](uint16_t minor, uint64_t rate_bps, uint64_t burst_bytes) {
    ClassPtr c;
    rtnl_tc_set_ifindex(TC_CAST(c.p), ifindex_);
    rtnl_tc_set_parent(TC_CAST(c.p), TC_HANDLE(kTcRootMajor, 0));
    rtnl_tc_set_handle(TC_CAST(c.p), TC_HANDLE(kTcRootMajor, minor));
    rtnl_tc_set_kind(TC_CAST(c.p), "htb");
    rtnl_htb_set_rate64(c.p, rate_bps / 8);
    rtnl_htb_set_ceil64(c.p, rate_bps / 8);
    if (burst_bytes) {
      rtnl_htb_set_rbuffer(c.p, static_cast<uint32_t>(burst_bytes));
      rtnl_htb_set_cbuffer(c.p, static_cast<uint32_t>(burst_bytes));
    }
    ack_ = {};
    if (int rc = rtnl_class_add(sk_, c.p, NLM_F_CREATE | NLM_F_EXCL); rc < 0)
      return fail("add class htb " + handle_text(TC_HANDLE(kTcRootMajor, minor)) + " (rate " +
                      std::to_string(rate_bps) + " bit/s)",
                  rc);
    return std::string();
  };
  if (std::string e = add_class(kTcDefaultMinor, plan.line_rate_bps, 0); !e.empty()) return e;
  for (const TcClassPlan& c : plan.classes) {
    if (std::string e = add_class(c.minor, c.rate_bps, c.burst_bytes); !e.empty()) return e;
    if (c.shaped)
      if (std::string e = add_leaf(c); !e.empty()) return e;
  }
  uint32_t prio = 1;
  for (const TcClassPlan& c : plan.classes) {
    for (const TcFilter& f : c.filters) {
      ClsPtr cls;
      rtnl_tc_set_ifindex(TC_CAST(cls.p), ifindex_);
      rtnl_tc_set_parent(TC_CAST(cls.p), TC_HANDLE(kTcRootMajor, 0));
      rtnl_tc_set_kind(TC_CAST(cls.p), "u32");
      rtnl_cls_set_prio(cls.p, static_cast<uint16_t>(prio));
      rtnl_cls_set_protocol(cls.p, f.protocol);
      rtnl_u32_set_classid(cls.p, TC_HANDLE(kTcRootMajor, c.minor));
      rtnl_u32_set_cls_terminal(cls.p);
      for (const TcU32Key& k : f.keys) rtnl_u32_add_key_uint32(cls.p, k.value, k.mask, k.offset, 0);
      ack_ = {};
      if (int rc = rtnl_cls_add(sk_, cls.p, NLM_F_CREATE | NLM_F_EXCL); rc < 0)
        return fail("add filter u32 prio " + std::to_string(prio) + " (" + c.policy + "/" + c.cls + ": " +
                        tc_filter_text(f) + ")",
                    rc);
      ++prio;
    }
  }
  return "";
}

std::string TcHost::check(const std::map<std::string, QosPolicy>& next, const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string e;
  if (auto it = next.find(name); it != next.end()) e = check_tc_policy(it->second, caps_);
  if (e.empty()) {
    TcPlan plan;
    e = build_tc_plan(next, caps_, line_rate(interface_), &plan);
  }
  if (!e.empty()) refused_++;
  return e;
}

std::string TcHost::apply(const std::map<std::string, QosPolicy>& next) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!sk_) return "tc mode is not open";
  TcPlan plan;
  if (std::string e = build_tc_plan(next, caps_, line_rate(interface_), &plan); !e.empty()) {
    refused_++;
    return e;
  }
  if (installed_)
    if (std::string e = delete_root(); !e.empty()) return e;  // the old tree is still in place
  if (plan.classes.empty()) {
    plan_ = TcPlan{};
    applied_++;
    return "";
  }
  std::string e = build(plan);
  if (e.empty()) {
    plan_ = std::move(plan);
    applied_++;
    return "";
  }
  // Roll back: what was built goes, the previous tree comes back.
  rollbacks_++;
  if (installed_) delete_root();
  if (!plan_.classes.empty()) {
    if (std::string again = build(plan_); !again.empty()) {
      if (installed_) delete_root();
      plan_ = TcPlan{};
      e += "; rebuilding the previous tree failed too (" + again + "), so " + interface_ + " has no tree now";
      last_error_ = e;
      std::fprintf(stderr, "wirescope: qos: tc on %s: %s\n", interface_.c_str(), e.c_str());
    }
  }
  return e;
}

std::string TcHost::remove() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!installed_ || !sk_) return "";
  std::string e = delete_root();
  if (e.empty()) plan_ = TcPlan{};
  return e;
}

std::vector<QosClassTotals> TcHost::stats() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<QosClassTotals> out;
  if (!installed_ || plan_.classes.empty()) return out;
  CachePtr classes, qdiscs;
  ack_ = {};
  if (int rc = rtnl_class_alloc_cache(sk_, ifindex_, &classes.p); rc < 0) {
    fail("dump classes", rc);
    return out;
  }
  ack_ = {};
  if (int rc = rtnl_qdisc_alloc_cache(sk_, &qdiscs.p); rc < 0) {
    fail("dump qdiscs", rc);
    return out;
  }
  for (const TcClassPlan& c : plan_.classes) {
    QosClassTotals t;
    t.policy = c.policy;
    t.cls = c.cls;
    t.shaped = c.shaped;
    if (rtnl_class* k = rtnl_class_get(classes.p, ifindex_, TC_HANDLE(kTcRootMajor, c.minor))) {
      t.packets[0] = rtnl_tc_get_stat(TC_CAST(k), RTNL_TC_PACKETS);
      t.bytes[0] = rtnl_tc_get_stat(TC_CAST(k), RTNL_TC_BYTES);
      t.queue_drops = rtnl_tc_get_stat(TC_CAST(k), RTNL_TC_DROPS);
      t.overlimits = rtnl_tc_get_stat(TC_CAST(k), RTNL_TC_OVERLIMITS);
      t.queued_frames = rtnl_tc_get_stat(TC_CAST(k), RTNL_TC_QLEN);
      t.queued_bytes = rtnl_tc_get_stat(TC_CAST(k), RTNL_TC_BACKLOG);
      rtnl_class_put(k);
    }
    // The leaf sees every drop of the class (fq_codel's own drops too).
    if (c.shaped)
      if (rtnl_qdisc* q = rtnl_qdisc_get(qdiscs.p, ifindex_, TC_HANDLE(c.minor, 0))) {
        t.queue_drops = std::max<uint64_t>(t.queue_drops, rtnl_tc_get_stat(TC_CAST(q), RTNL_TC_DROPS));
        rtnl_qdisc_put(q);
      }
    out.push_back(std::move(t));
  }
  return out;
}

nlohmann::json TcHost::info() {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t errors = 0;
  for (const auto& [op, n] : errors_) errors += n;
  nlohmann::json j = {{"interface", interface_},
                      {"installed", installed_},
                      {"classifier", "u32"},
                      {"leaf_qdisc", leaf_kind_},
                      {"line_rate_bps", line_rate(interface_)},
                      {"filters", plan_.filters()},
                      {"police_action", probe_name(caps_.police)},
                      {"pedit_action", probe_name(caps_.pedit)},
                      {"applied", applied_},
                      {"refused", refused_},
                      {"rollbacks", rollbacks_},
                      {"netlink_errors", errors},
                      {"last_error", last_error_}};
  if (installed_) {
    CachePtr classes;
    ack_ = {};
    if (int rc = rtnl_class_alloc_cache(sk_, ifindex_, &classes.p); rc < 0) {
      fail("dump classes", rc);
    } else if (rtnl_class* k =
                   rtnl_class_get(classes.p, ifindex_, TC_HANDLE(kTcRootMajor, kTcDefaultMinor))) {
      j["default_class"] = {{"packets", rtnl_tc_get_stat(TC_CAST(k), RTNL_TC_PACKETS)},
                            {"bytes", rtnl_tc_get_stat(TC_CAST(k), RTNL_TC_BYTES)},
                            {"drops", rtnl_tc_get_stat(TC_CAST(k), RTNL_TC_DROPS)},
                            {"overlimits", rtnl_tc_get_stat(TC_CAST(k), RTNL_TC_OVERLIMITS)}};
      rtnl_class_put(k);
    }
  }
  return j;
}

std::string TcHost::metrics_text() {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  auto family = [&](const char* name, const char* help, const char* type) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  family("wirescope_qos_tc_installed", "1 while the HTB tree of qos.mode tc is on the interface", "gauge");
  std::string iface;  // a label value: backslash and quote escaped, as the format asks
  for (char ch : interface_) {
    if (ch == '\\' || ch == '"') iface += '\\';
    iface += ch;
  }
  out += "wirescope_qos_tc_installed{interface=\"" + iface + "\"} " + (installed_ ? "1" : "0") + "\n";
  family("wirescope_qos_tc_applied_total", "policy changes made the interface's tc tree", "counter");
  out += "wirescope_qos_tc_applied_total " + std::to_string(applied_) + "\n";
  family("wirescope_qos_tc_refused_total", "policies refused because tc mode cannot express them", "counter");
  out += "wirescope_qos_tc_refused_total " + std::to_string(refused_) + "\n";
  family("wirescope_qos_tc_rollbacks_total", "changes that failed in the kernel and were rolled back",
         "counter");
  out += "wirescope_qos_tc_rollbacks_total " + std::to_string(rollbacks_) + "\n";
  family("wirescope_qos_tc_netlink_errors_total", "netlink requests the kernel refused, by operation",
         "counter");
  for (const char* op : {"add", "delete", "dump"}) {
    uint64_t n = 0;
    if (auto it = errors_.find(op); it != errors_.end()) n = it->second;
    out += std::string("wirescope_qos_tc_netlink_errors_total{operation=\"") + op + "\"} " +
           std::to_string(n) + "\n";
  }
  return out;
}

}  // namespace ws
