#include "dataplane/qos/meter.h"

#include <cmath>

namespace ws {

namespace {
// rte_meter's RTE_METER_TB_PERIOD_MIN: a period of at least 100 ticks keeps
// the integer period's rounding error under 1%.
constexpr uint64_t kPeriodMin = 100;
constexpr uint64_t kHz = 1'000'000'000;
}  // namespace

const char* qos_color_name(QosColor c) {
  switch (c) {
    case QosColor::kGreen: return "green";
    case QosColor::kYellow: return "yellow";
    case QosColor::kRed: return "red";
  }
  return "?";
}

void qos_tb_params(uint64_t rate, uint64_t* period, uint64_t* bytes_per_period) {
  if (rate == 0) {
    *bytes_per_period = 0;
    *period = kPeriodMin;
    return;
  }
  // The same double arithmetic as rte_meter.c, so the profiles are equal.
  const double p = static_cast<double>(kHz) / static_cast<double>(rate);
  if (p >= kPeriodMin) {
    *bytes_per_period = 1;
    *period = static_cast<uint64_t>(p);
  } else {
    *bytes_per_period = static_cast<uint64_t>(std::ceil(kPeriodMin / p));
    *period = (kHz * *bytes_per_period) / rate;
  }
}

SrTcmProfile make_srtcm_profile(uint64_t cir, uint64_t cbs, uint64_t ebs) {
  SrTcmProfile p;
  p.cbs = cbs;
  p.ebs = ebs;
  qos_tb_params(cir, &p.period, &p.bytes_per_period);
  return p;
}

TrTcmProfile make_trtcm_profile(uint64_t cir, uint64_t pir, uint64_t cbs, uint64_t pbs) {
  TrTcmProfile p;
  p.cbs = cbs;
  p.pbs = pbs;
  qos_tb_params(cir, &p.cir_period, &p.cir_bytes_per_period);
  qos_tb_params(pir, &p.pir_period, &p.pir_bytes_per_period);
  return p;
}

}  // namespace ws
