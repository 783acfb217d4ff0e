// Host mode (qos.mode: tc): the QoS policy set as Linux traffic control on
// one interface's egress, set up through netlink with libnl-route
// (dataplane/qos/tc_plan.h says what the tree looks like).
//
// open() finds the interface and probes the kernel once: act_police and
// act_pedit by asking for each action with no parameters (a kernel without
// the module answers "Failed to load TC action module"; one with it refuses
// the missing parameters; nothing is created either way). The first shaped
// class probes fq_codel: if the kernel has no such qdisc, pfifo leaves are
// used from then on (said once on stderr and in info()).
//
// Every change rebuilds the tree: the root qdisc we installed is deleted,
// then the new tree is built (root, default class, classes, leaves,
// filters). If any step fails, what was built is deleted and the previous
// tree is built again, and the change is refused with the failing
// operation and the kernel's message; so from the agent's side a change
// applies whole or not at all (packets queued in the tree at the moment of
// a change are lost with it). A set with no classes means no tree.
//
// Ours only: open() refuses an interface whose root qdisc is not the
// kernel's default (handle 0), unless it is the tree a previous run left
// (HTB 1: whose default class is 1:fffe), which it deletes. remove() (also
// from the destructor) deletes the HTB root 1: and nothing else.
//
// Every netlink failure is logged on stderr with the operation and the
// kernel's message, and counted by operation.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "dataplane/qos/host.h"
#include "dataplane/qos/tc_plan.h"

struct nl_sock;

namespace ws {

class TcHost : public QosHost {
 public:
  explicit TcHost(std::string interface);
  ~TcHost() override;
  TcHost(const TcHost&) = delete;
  TcHost& operator=(const TcHost&) = delete;

  // "" or why host mode cannot run on the interface.
  std::string open();
  // Deletes the tree we installed, if any; "" or why it could not.
  std::string remove();

  const TcCaps& caps() const { return caps_; }
  const std::string& interface() const { return interface_; }
  bool installed() const;
  // "fq_codel" or "pfifo"; "" until the first shaped class was installed.
  std::string leaf_qdisc() const;

  // QosHost
  std::string check(const std::map<std::string, QosPolicy>& next, const std::string& name) override;
  std::string apply(const std::map<std::string, QosPolicy>& next) override;
  std::vector<QosClassTotals> stats() override;
  nlohmann::json info() override;
  std::string metrics_text() override;

 private:
  // One netlink request's outcome: "" or "OP: the kernel's message"; the
  // failure is logged and counted unless quiet.
  std::string fail(const std::string& op, int rc, bool quiet = false);
  std::string build(const TcPlan& plan);
  std::string delete_root();
  std::string add_leaf(const TcClassPlan& c);
  TcCaps::Probe probe_action(const char* kind);
  // The interface's root qdisc; *what: "KIND HANDLE" or the error.
  enum class Root { kDefault, kOurs, kForeign, kUnreadable };
  Root read_root(std::string* what);

  std::string interface_;
  int ifindex_ = 0;
  TcCaps caps_;
  nl_sock* sk_ = nullptr;
  mutable std::mutex mu_;
  TcPlan plan_;  // installed now (no classes: no tree)
  bool installed_ = false;
  std::string leaf_kind_;  // "", "fq_codel" or "pfifo"
  // The last request's error as the kernel gave it (errno, extended ack message).
  struct Ack {
    int error = 0;
    std::string message;
  } ack_;
  std::pair<int*, std::string*> ack_arg_;   // what the error callback fills
  std::map<std::string, uint64_t> errors_;  // netlink failures by operation
  uint64_t applied_ = 0, refused_ = 0, rollbacks_ = 0;
  std::string last_error_;
};

}  // namespace ws
