// Meters: srTCM (RFC 2697: CIR, CBS, EBS) and trTCM (RFC 2698: CIR, PIR,
// CBS, PBS), colour-blind, with DPDK rte_meter's arithmetic so that the
// same packet sequence gets the same colours (tests/dataplane/qos_meter_test.cc
// runs both side by side).
//
// Differences from rte_meter: time is in nanoseconds from the packet/worker
// clock instead of TSC cycles (the profile is rte_meter's with hz = 1e9),
// and rates come in bit/s (divided by 8: rte_meter counts bytes per second).
// As in rte_meter, a profile precomputes a period and the bytes added per
// period (at least 100 ns per period, so the token count never advances by
// fractions); the per-packet work is one division of the elapsed time by the
// period, adds and compares. A meter starts with full buckets.
#pragma once

#include <cstdint>

namespace ws {

enum class QosColor : uint8_t { kGreen = 0, kYellow = 1, kRed = 2 };
inline constexpr int kQosColors = 3;
const char* qos_color_name(QosColor c);

// rte_meter_get_tb_params with hz = 1e9: the token bucket's period (ns) and
// bytes per period for a rate in bytes/s.
void qos_tb_params(uint64_t bytes_per_s, uint64_t* period_ns, uint64_t* bytes_per_period);

struct SrTcmProfile {
  uint64_t cbs = 0, ebs = 0;
  uint64_t period = 0, bytes_per_period = 0;
};
SrTcmProfile make_srtcm_profile(uint64_t cir_bytes_per_s, uint64_t cbs, uint64_t ebs);

struct TrTcmProfile {
  uint64_t cbs = 0, pbs = 0;
  uint64_t cir_period = 0, cir_bytes_per_period = 0;
  uint64_t pir_period = 0, pir_bytes_per_period = 0;
};
TrTcmProfile make_trtcm_profile(uint64_t cir_bytes_per_s, uint64_t pir_bytes_per_s, uint64_t cbs, uint64_t pbs);

struct SrTcm {
  uint64_t time = 0;  // last bucket update, ns
  uint64_t tc = 0, te = 0;

  void start(const SrTcmProfile& p, uint64_t now_ns) {
    time = now_ns;
    tc = p.cbs;
    te = p.ebs;
  }

  QosColor check(const SrTcmProfile& p, uint64_t now_ns, uint32_t len) {
    // A clock that steps back (pcap replay, merged sources) adds nothing
    // rather than wrapping to a huge refill.
    const uint64_t diff = now_ns > time ? now_ns - time : 0;
    const uint64_t n = diff / p.period;
    time += n * p.period;
    uint64_t c = tc + n * p.bytes_per_period;
    uint64_t e = te;
    if (c > p.cbs) {  // tokens overflowing C fill E
      e += c - p.cbs;
      if (e > p.ebs) e = p.ebs;
      c = p.cbs;
    }
    if (c >= len) {
      tc = c - len;
      te = e;
      return QosColor::kGreen;
    }
    if (e >= len) {
      tc = c;
      te = e - len;
      return QosColor::kYellow;
    }
    tc = c;
    te = e;
    return QosColor::kRed;
  }
};

struct TrTcm {
  uint64_t time_tc = 0, time_tp = 0;
  uint64_t tc = 0, tp = 0;

  void start(const TrTcmProfile& p, uint64_t now_ns) {
    time_tc = time_tp = now_ns;
    tc = p.cbs;
    tp = p.pbs;
  }

  QosColor check(const TrTcmProfile& p, uint64_t now_ns, uint32_t len) {
    const uint64_t dc = now_ns > time_tc ? now_ns - time_tc : 0;
    const uint64_t dp = now_ns > time_tp ? now_ns - time_tp : 0;
    const uint64_t nc = dc / p.cir_period;
    const uint64_t np = dp / p.pir_period;
    time_tc += nc * p.cir_period;
    time_tp += np * p.pir_period;
    uint64_t c = tc + nc * p.cir_bytes_per_period;
    if (c > p.cbs) c = p.cbs;
    uint64_t pk = tp + np * p.pir_bytes_per_period;
    if (pk > p.pbs) pk = p.pbs;
    if (pk < len) {
      tc = c;
      tp = pk;
      return QosColor::kRed;
    }
    if (c < len) {
      tc = c;
      tp = pk - len;
      return QosColor::kYellow;
    }
    tc = c - len;
    tp = pk - len;
    return QosColor::kGreen;
  }
};

}  // namespace ws
