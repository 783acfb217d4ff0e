#include "dataplane/qos/stage.h"

#include <algorithm>
#include <cctype>

namespace ws {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

// "TLS" matches the label "TLS", "TLS.Google" (master) and "Google.TLS"
// would too (app part): nDPI labels are master.app.
bool app_matches(const std::string& want, std::string_view label) {
  if (label.empty()) return false;
  if (iequals(want, label)) return true;
  const size_t dot = label.find('.');
  if (dot == std::string_view::npos) return false;
  return iequals(want, label.substr(0, dot)) || iequals(want, label.substr(dot + 1));
}

bool in_range(uint16_t v, uint16_t lo, uint16_t hi) { return v >= lo && v <= hi; }

bool has_ports(const Decoded& d) {
  return (d.key.proto == 6 || d.key.proto == 17 || d.key.proto == 132) && !(d.flags & kDecLaterFragment);
}

}  // namespace

bool qos_match(const QosMatch& m, const Decoded& d, std::string_view app_name, bool to_server) {
  if (m.proto >= 0 && d.key.proto != m.proto) return false;
  if (m.src.family && !qos_prefix_contains(m.src, d.key.family, d.key.src)) return false;
  if (m.dst.family && !qos_prefix_contains(m.dst, d.key.family, d.key.dst)) return false;
  if (m.has_src_port && !(has_ports(d) && in_range(d.key.sport, m.src_port_lo, m.src_port_hi))) return false;
  if (m.has_dst_port && !(has_ports(d) && in_range(d.key.dport, m.dst_port_lo, m.dst_port_hi))) return false;
  if (m.vlan >= 0 && !((d.vlan_count > 0 && d.vlan[0] == m.vlan) || (d.vlan_count > 1 && d.vlan[1] == m.vlan)))
    return false;
  if (m.dscp >= 0 && (d.tos >> 2) != m.dscp) return false;
  if (m.direction >= 0 && to_server != (m.direction == 1)) return false;
  if (!m.app.empty() && !app_matches(m.app, app_name)) return false;
  return true;
}

std::unique_ptr<QosSnapshot> build_qos_snapshot(const std::map<std::string, QosPolicy>& policies,
                                                const QosSnapshot* previous, size_t workers) {
  auto s = std::make_unique<QosSnapshot>();
  s->workers = workers;
  s->shapers.resize(workers);
  auto find_prev = [&](const std::string& policy, const std::string& cls) -> const QosCompiledClass* {
    if (!previous) return nullptr;
    for (const QosCompiledPolicy& p : previous->policies)
      if (p.name == policy)
        for (const QosCompiledClass& c : p.classes)
          if (c.spec.name == cls) return &c;
    return nullptr;
  };
  for (const auto& [name, policy] : policies) {  // std::map: name order
    QosCompiledPolicy cp;
    cp.name = name;
    for (const QosClass& spec : policy.classes) {
      QosCompiledClass c;
      c.spec = spec;
      const QosCompiledClass* old = find_prev(name, spec.name);
      c.counters = old ? old->counters : std::make_shared<QosCounterBlock>(workers);
      for (QosColorAction& a : c.action) a = {QosColorAction::kTransmit, 0};
      if (spec.police.enabled) {
        const QosPolice& p = spec.police;
        if (p.trtcm) c.tr = make_trtcm_profile(p.cir_bps / 8, p.pir_bps / 8, p.cbs_bytes, p.pbs_bytes);
        else c.sr = make_srtcm_profile(p.cir_bps / 8, p.cbs_bytes, p.ebs_bytes);
        c.action[int(QosColor::kGreen)] = p.conform;
        c.action[int(QosColor::kYellow)] = p.exceed;
        c.action[int(QosColor::kRed)] = p.violate;
        c.meter = old && old->meter && old->spec.police == p ? old->meter : std::make_shared<QosMeterBlock>(workers);
      }
      if (spec.shape.enabled) {
        const QosShape& sh = spec.shape;
        if (old && old->shaper && old->spec.shape == sh) {
          c.shaper = old->shaper;
        } else {
          c.shaper = std::make_shared<QosShaperBlock>();
          for (size_t w = 0; w < workers; ++w)
            c.shaper->w.push_back(
                std::make_unique<Shaper>(sh.rate_bps, sh.burst_bytes, sh.queue_bytes, sh.queue_packets));
        }
        for (size_t w = 0; w < workers; ++w) s->shapers[w].push_back(c.shaper->w[w].get());
      }
      cp.classes.push_back(std::move(c));
    }
    s->policies.push_back(std::move(cp));
  }
  return s;
}

QosSlot::QosSlot(size_t workers) : SnapshotSlot<QosSnapshot>(workers) {
  publish(build_qos_snapshot({}, nullptr, workers));
}

void QosStage::switch_to(const QosSnapshot* s) {
  const QosSnapshot* old = cur_;
  cur_ = s;
  shapers_ = worker_ < s->shapers.size() ? &s->shapers[worker_] : &kNoShapers;
  // Shapers of the snapshot in use that the new one no longer has, with
  // frames of this worker waiting: keep holding the snapshot last acked (do
  // not ack the new one) until drain() has sent them. A snapshot held keeps
  // every later one alive too, so a second switch before that drain only
  // adds to the list.
  if (old) {
    const std::vector<Shaper*>& before = worker_ < old->shapers.size() ? old->shapers[worker_] : kNoShapers;
    for (Shaper* sh : before)
      if (sh->queued_frames() && std::find(retired_shapers_.begin(), retired_shapers_.end(), sh) ==
                                     retired_shapers_.end())
        retired_shapers_.push_back(sh);
  }
  // A shaper the new snapshot still has (same block) is live, not retired.
  retired_shapers_.erase(std::remove_if(retired_shapers_.begin(), retired_shapers_.end(),
                                        [&](Shaper* sh) {
                                          return std::find(shapers_->begin(), shapers_->end(), sh) != shapers_->end();
                                        }),
                         retired_shapers_.end());
  if (!retired_shapers_.empty() && !flush_from_) flush_from_ = old;
  if (retired_shapers_.empty()) flush_from_ = nullptr;
  queued_ = 0;
  for (Shaper* sh : *shapers_) queued_ += sh->queued_frames();
  if (!flush_from_) slot_->ack(worker_, cur_);
}

TcVerdict QosStage::apply(uint8_t* frame, uint32_t len, const Decoded& dec, std::string_view app_name,
                          bool to_server, uint16_t out_port, uint64_t now_ns, uint32_t vlan_tag) {
  const QosSnapshot* s = cur_;
  if (!s || s->policies.empty()) return TcVerdict::kPass;
  // Meters and counters see the frame as it leaves: with a stripped tag back.
  const uint32_t wire = wire_len_with_tag(len, vlan_tag);
  stats_.frames.inc();
  int dscp = -1;
  QosClassCounters* dscp_by = nullptr;
  Shaper* shaper = nullptr;
  QosClassCounters* shaper_by = nullptr;
  for (const QosCompiledPolicy& p : s->policies) {
    for (const QosCompiledClass& c : p.classes) {
      if (!qos_match(c.spec.match, dec, app_name, to_server)) continue;
      QosClassCounters& ctr = c.counters->w[worker_];
      QosColor color = QosColor::kGreen;
      if (c.meter) {
        QosMeterState& m = c.meter->w[worker_];
        if (c.spec.police.trtcm) {
          if (!m.started) m.tr.start(c.tr, now_ns);
          color = m.tr.check(c.tr, now_ns, wire);
        } else {
          if (!m.started) m.sr.start(c.sr, now_ns);
          color = m.sr.check(c.sr, now_ns, wire);
        }
        m.started = true;
      }
      ctr.packets[int(color)].inc();
      ctr.bytes[int(color)].inc(wire);
      const QosColorAction& a = c.action[int(color)];
      if (a.kind == QosColorAction::kDrop) {
        ctr.police_drops.inc();
        return TcVerdict::kDrop;
      }
      if (a.kind == QosColorAction::kRemark) {
        dscp = a.dscp;
        dscp_by = &ctr;
      } else if (c.spec.set_dscp >= 0) {
        dscp = c.spec.set_dscp;
        dscp_by = &ctr;
      }
      if (c.shaper && !shaper) {
        shaper = c.shaper->w[worker_].get();
        shaper_by = &ctr;
      }
      break;  // first matching class of this policy
    }
  }
  if (dscp >= 0 && (dec.tos >> 2) != dscp) {
    if (qos_set_dscp(frame, len, dec.l3_off, dec.key.family, static_cast<uint8_t>(dscp))) {
      stats_.dscp_rewrites.inc();
      dscp_by->dscp_rewrites.inc();
    } else {
      stats_.dscp_unwritable.inc();
    }
  }
  if (!shaper) return TcVerdict::kPass;
  switch (shaper->offer(frame, len, out_port, now_ns, vlan_tag)) {
    case Shaper::kSend: return TcVerdict::kPass;
    case Shaper::kQueued: ++queued_; return TcVerdict::kQueued;
    case Shaper::kDropped: break;
  }
  shaper_by->queue_drops.inc();
  return TcVerdict::kDrop;
}

uint64_t QosStage::next_due_ns() const {
  uint64_t due = UINT64_MAX;
  if (flush_from_) return 0;
  if (queued_ == 0) return due;
  for (const Shaper* sh : *shapers_) due = std::min(due, sh->next_due_ns());
  return due;
}

std::vector<QosClassTotals> qos_stats(const QosSnapshot& s) {
  std::vector<QosClassTotals> out;
  for (const QosCompiledPolicy& p : s.policies)
    for (const QosCompiledClass& c : p.classes) {
      QosClassTotals t;
      t.policy = p.name;
      t.cls = c.spec.name;
      t.policed = c.spec.police.enabled;
      t.shaped = c.spec.shape.enabled;
      for (size_t w = 0; w < c.counters->n; ++w) {
        const QosClassCounters& k = c.counters->w[w];
        for (int i = 0; i < kQosColors; ++i) {
          t.packets[i] += k.packets[i].get();
          t.bytes[i] += k.bytes[i].get();
        }
        t.police_drops += k.police_drops.get();
        t.queue_drops += k.queue_drops.get();
        t.dscp_rewrites += k.dscp_rewrites.get();
      }
      if (c.shaper)
        for (const auto& sh : c.shaper->w) {
          t.queued_frames += sh->stats().depth.get();
          t.queued_bytes += sh->stats().depth_bytes.get();
        }
      out.push_back(std::move(t));
    }
  return out;
}

}  // namespace ws
