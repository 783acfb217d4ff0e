#include "dataplane/capture/gns3_stream.h"

namespace ws {

void Gns3StreamParser::begin(uint64_t skip) {
  parser_.reset();
  skip_ = skip;
  answer_records_ = 0;
  failed_ = false;
  any_bytes_ = false;
  error_.clear();
}

bool Gns3StreamParser::end() {
  if (failed_) return false;
  // The server sends nothing at all until the link's first packet; an
  // answer that stops before any byte came lost nothing.
  if (!any_bytes_) return true;
  if (parser_.finish()) return true;
  ++c_.truncated;
  failed_ = true;
  return false;
}

std::string gns3_dlt_name(uint32_t dlt) {
  switch (dlt) {
    case Gns3StreamParser::kDltEn10mb: return "DLT_EN10MB";
    case Gns3StreamParser::kDltAtmRfc1483: return "DLT_ATM_RFC1483";
    case Gns3StreamParser::kDltPppSerial: return "DLT_PPP_SERIAL";
    case Gns3StreamParser::kDltCHdlc: return "DLT_C_HDLC";
    case Gns3StreamParser::kDltFrelay: return "DLT_FRELAY";
    default: return "DLT_" + std::to_string(dlt);
  }
}

}  // namespace ws
