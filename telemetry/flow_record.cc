#include "telemetry/flow_record.h"

#include <ndpi_api.h>

namespace ws {

const char* flow_state_name(FlowState s) {
  switch (s) {
    case FlowState::kNew: return "new";
    case FlowState::kEstablished: return "established";
    case FlowState::kClosed: return "closed";
  }
  return "new";
}

const char* tcp_state_name(TcpState s) {
  switch (s) {
    case TcpState::kNone: return "none";
    case TcpState::kSynSent: return "syn_sent";
    case TcpState::kSynRecv: return "syn_recv";
    case TcpState::kEstablished: return "established";
    case TcpState::kFinWait1: return "fin_wait1";
    case TcpState::kFinWait2: return "fin_wait2";
    case TcpState::kTimeWait: return "time_wait";
    case TcpState::kLastAck: return "last_ack";
    case TcpState::kCloseWait: return "close_wait";
    case TcpState::kClosing: return "closing";
    case TcpState::kClosed: return "closed";
  }
  return "none";
}

const char* flow_end_reason_eve(FlowEndReason r) {
  switch (r) {
    case FlowEndReason::kForced: return "forced";
    case FlowEndReason::kShutdown: return "shutdown";
    case FlowEndReason::kIdleTimeout:
    case FlowEndReason::kActiveTimeout:
    case FlowEndReason::kEndOfFlow: return "timeout";
  }
  return "timeout";
}

const char* app_confidence_name(uint8_t confidence) {
  // nDPI's own strings, so EVE says what ndpiReader says.
  if (confidence >= NDPI_CONFIDENCE_MAX) return "Unknown";
  return ndpi_confidence_get_name(static_cast<ndpi_confidence_t>(confidence));
}

const char* app_risk_name(unsigned bit) {
  // ndpi_risk2str formats unknown values into a static buffer (not thread
  // safe): only ever ask for bits nDPI defines.
  if (bit == 0 || bit >= NDPI_MAX_RISK) return nullptr;
  return ndpi_risk2str(static_cast<ndpi_risk_enum>(bit));
}

unsigned app_risk_bits() { return NDPI_MAX_RISK; }

}  // namespace ws
