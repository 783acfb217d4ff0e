// Traffic generator: determinism, and the ground truth re-derived from the
// written file by an independent decoder (libpcap + the parser below).
#include "bench/pktgen/generator.h"

#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace {

using namespace ws::pktgen;

std::string temp_path(const std::string& name) {
  const char* dir = std::getenv("TMPDIR");
  std::string d = dir && *dir ? dir : "/tmp";
  return d + "/gen_" + std::to_string(getpid()) + "_" + name;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

uint16_t be16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}

struct Recount {
  uint64_t packets = 0, frame_bytes = 0, captured = 0, ip_bytes = 0;
  uint64_t v4 = 0, v6 = 0, vlan = 0, qinq = 0, frags = 0, undecoded = 0;
  std::map<int, uint64_t> proto_packets;
  std::map<int, uint64_t> proto_bytes;
  std::map<std::string, std::pair<uint64_t, uint64_t>> flows;  // key -> first, last ts
  std::map<std::string, int> flow_proto;
  std::set<std::string> flows_novlan;
  std::map<std::string, uint8_t> first_tcp_flags;
  bool ts_monotone = true;
  uint64_t max_concurrent = 0;
};

// Flow key text: outer VLAN, protocol, and the two (address, port) ends in
// sorted order, so both directions give the same key.
std::string key_of(int vlan, int proto, const std::string& a, uint16_t ap, const std::string& b, uint16_t bp,
                   bool with_vlan) {
  std::string x = a + ":" + std::to_string(ap), y = b + ":" + std::to_string(bp);
  if (y < x) std::swap(x, y);
  return (with_vlan ? std::to_string(vlan) : std::string("-")) + "/" + std::to_string(proto) + "/" + x + "/" +
         y;
}

Recount recount(const std::string& path) {
  Recount r;
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, err);
  EXPECT_NE(p, nullptr) << err;
  if (!p) return r;
  EXPECT_EQ(pcap_datalink(p), DLT_EN10MB);
  // Ports of fragmented datagrams, from their first fragment.
  std::map<std::string, std::pair<uint16_t, uint16_t>> frag_ports;
  pcap_pkthdr* h;
  const u_char* d;
  uint64_t last_ts = 0;
  while (pcap_next_ex(p, &h, &d) == 1) {
    uint64_t ts = static_cast<uint64_t>(h->ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(h->ts.tv_usec);
    if (ts < last_ts) r.ts_monotone = false;
    last_ts = ts;
    ++r.packets;
    r.frame_bytes += h->len;
    r.captured += h->caplen;
    size_t off = 12;
    uint16_t type = be16(d + off);
    int tags = 0, vlan = 0;
    while (type == 0x8100 || type == 0x88a8) {
      if (tags == 0) vlan = be16(d + off + 2) & 0xfff;
      ++tags;
      off += 4;
      type = be16(d + off);
    }
    off += 2;
    if (tags) ++r.vlan;
    if (tags == 2) ++r.qinq;
    const uint8_t* ip = d + off;
    std::string src, dst;
    int proto;
    const uint8_t* l4 = nullptr;
    bool first_frag = true, is_frag = false;
    std::string frag_id;
    if (type == 0x0800) {
      ++r.v4;
      r.ip_bytes += be16(ip + 2);
      proto = ip[9];
      src.assign(reinterpret_cast<const char*>(ip + 12), 4);
      dst.assign(reinterpret_cast<const char*>(ip + 16), 4);
      uint16_t fo = be16(ip + 6);
      is_frag = (fo & 0x3fff) != 0;
      first_frag = (fo & 0x1fff) == 0;
      frag_id = src + dst + std::to_string(be16(ip + 4));
      l4 = ip + (ip[0] & 0xf) * 4;
      r.proto_bytes[proto] += be16(ip + 2);
    } else if (type == 0x86dd) {
      ++r.v6;
      r.ip_bytes += 40u + be16(ip + 4);
      proto = ip[6];
      src.assign(reinterpret_cast<const char*>(ip + 8), 16);
      dst.assign(reinterpret_cast<const char*>(ip + 24), 16);
      l4 = ip + 40;
      if (proto == 44) {
        is_frag = true;
        proto = l4[0];
        first_frag = (be16(l4 + 2) >> 3) == 0;
        frag_id = src + dst + std::to_string(be16(l4 + 4) << 16 | be16(l4 + 6));
        l4 += 8;
      }
      r.proto_bytes[proto] += 40u + be16(ip + 4);
    } else {
      ++r.undecoded;
      continue;
    }
    ++r.proto_packets[proto];
    if (is_frag) ++r.frags;
    uint16_t sp = 0, dp = 0;
    if (proto == 6 || proto == 17) {
      if (first_frag) {
        sp = be16(l4);
        dp = be16(l4 + 2);
        if (is_frag) frag_ports[frag_id] = {sp, dp};
      } else {
        auto it = frag_ports.find(frag_id);
        EXPECT_NE(it, frag_ports.end()) << "fragment before its first fragment";
        if (it != frag_ports.end()) std::tie(sp, dp) = it->second;
      }
    } else if ((proto == 1 && (l4[0] == 8 || l4[0] == 0)) ||
               (proto == 58 && (l4[0] == 128 || l4[0] == 129))) {
      sp = dp = be16(l4 + 4);  // echo id on both sides, as FlowKey does
    }
    std::string k = key_of(vlan, proto, src, sp, dst, dp, true);
    auto [it, fresh] = r.flows.try_emplace(k, ts, ts);
    if (fresh) {
      r.flow_proto[k] = proto;
      if (proto == 6) r.first_tcp_flags[k] = l4[13];
    }
    it->second.second = ts;
    r.flows_novlan.insert(key_of(vlan, proto, src, sp, dst, dp, false));
  }
  pcap_close(p);
  std::vector<std::pair<uint64_t, int>> ev;
  for (auto& [k, fl] : r.flows) {
    ev.emplace_back(fl.first, 1);
    ev.emplace_back(fl.second, -1);
  }
  std::sort(ev.begin(), ev.end(),
            [](auto& a, auto& b) { return a.first != b.first ? a.first < b.first : a.second > b.second; });
  int64_t cur = 0, best = 0;
  for (auto& e : ev) best = std::max(best, cur += e.second);
  r.max_concurrent = static_cast<uint64_t>(best);
  return r;
}

GenConfig small_config(uint64_t seed) {
  GenConfig c;
  c.packets = 60000;
  c.flows = 2000;
  c.seed = seed;
  c.duration_s = 200;
  return c;
}

TEST(Generator, SameSeedSameBytesOtherSeedOtherBytes) {
  std::string a = temp_path("a.pcap"), b = temp_path("b.pcap"), c = temp_path("c.pcap");
  GenTruth ta, tb, tc;
  std::string err;
  ASSERT_TRUE(write_capture(small_config(7), a, ta, err)) << err;
  ASSERT_TRUE(write_capture(small_config(7), b, tb, err)) << err;
  ASSERT_TRUE(write_capture(small_config(8), c, tc, err)) << err;
  std::string da = slurp(a), db = slurp(b), dc = slurp(c);
  std::remove(a.c_str());
  std::remove(b.c_str());
  std::remove(c.c_str());
  ASSERT_GT(da.size(), 60000u * 60);
  EXPECT_TRUE(da == db);
  EXPECT_FALSE(da == dc);
  EXPECT_EQ(truth_json(small_config(7), ta), truth_json(small_config(7), tb));
  EXPECT_EQ(tc.packets, 60000u);  // a different seed still meets the counts
  EXPECT_EQ(tc.flows, 2000u);
}

TEST(Generator, TruthMatchesRecountOfTheFile) {
  GenConfig cfg = small_config(3);
  cfg.snaplen = 400;  // exercise caplen < len
  std::string path = temp_path("t.pcap");
  GenTruth t;
  std::string err;
  ASSERT_TRUE(write_capture(cfg, path, t, err)) << err;
  Recount r = recount(path);
  std::remove(path.c_str());

  EXPECT_EQ(r.undecoded, 0u);
  EXPECT_TRUE(r.ts_monotone);
  EXPECT_EQ(r.packets, cfg.packets);
  EXPECT_EQ(t.packets, r.packets);
  EXPECT_EQ(t.frame_bytes, r.frame_bytes);
  EXPECT_EQ(t.captured_bytes, r.captured);
  EXPECT_LT(r.captured, r.frame_bytes);
  EXPECT_EQ(t.ip_bytes, r.ip_bytes);
  EXPECT_LT(r.ip_bytes, r.frame_bytes);
  EXPECT_EQ(r.flows.size(), cfg.flows);
  EXPECT_EQ(t.flows, r.flows.size());
  EXPECT_EQ(t.flows_ignoring_vlan, r.flows_novlan.size());
  EXPECT_LT(r.flows_novlan.size(), r.flows.size());  // some 5-tuples recur on another VLAN
  EXPECT_EQ(t.max_concurrent_flows, r.max_concurrent);
  EXPECT_EQ(t.ipv4_packets, r.v4);
  EXPECT_EQ(t.ipv6_packets, r.v6);
  EXPECT_EQ(t.vlan_packets, r.vlan);
  EXPECT_EQ(t.qinq_packets, r.qinq);
  EXPECT_GT(r.qinq, 0u);
  EXPECT_EQ(t.fragment_packets, r.frags);
  EXPECT_GT(r.frags, 0u);
  EXPECT_EQ(t.tcp.packets, r.proto_packets[6]);
  EXPECT_EQ(t.udp.packets, r.proto_packets[17]);
  EXPECT_EQ(t.icmp.packets, r.proto_packets[1]);
  EXPECT_EQ(t.icmpv6.packets, r.proto_packets[58]);
  EXPECT_EQ(t.tcp.ip_bytes, r.proto_bytes[6]);
  EXPECT_EQ(t.udp.ip_bytes, r.proto_bytes[17]);
  EXPECT_EQ(r.proto_packets.size(), 4u);  // nothing but these four
  std::map<int, uint64_t> flows_per_proto;
  for (auto& [k, p] : r.flow_proto) ++flows_per_proto[p];
  EXPECT_EQ(t.tcp.flows, flows_per_proto[6]);
  EXPECT_EQ(t.udp.flows, flows_per_proto[17]);
  EXPECT_EQ(t.icmp.flows + t.icmpv6.flows, flows_per_proto[1] + flows_per_proto[58]);
  // Every TCP flow opens with a bare SYN.
  for (auto& [k, fl] : r.first_tcp_flags) EXPECT_EQ(fl, 0x02) << k;
  // Average frame size near the ~250 B the model aims for.
  double avg = static_cast<double>(r.frame_bytes) / static_cast<double>(r.packets);
  EXPECT_GT(avg, 180.0);
  EXPECT_LT(avg, 340.0);
}

TEST(Generator, MostFlowsAreConcurrentAndSomeOutliveActiveTimeout) {
  GenConfig cfg = small_config(11);
  cfg.flows = 5000;
  cfg.packets = 120000;
  std::string err;
  auto gen = TrafficGenerator::create(cfg, err);
  ASSERT_TRUE(gen) << err;
  GenPacket p;
  uint64_t n = 0, prev = 0;
  bool monotone = true;
  while (gen->next(p)) {
    monotone &= p.ts_ns >= prev;
    prev = p.ts_ns;
    ++n;
  }
  EXPECT_TRUE(monotone);
  EXPECT_EQ(n, cfg.packets);
  const GenTruth& t = gen->truth();
  EXPECT_GE(t.max_concurrent_flows, cfg.flows * 85 / 100);
  EXPECT_GT(t.flows_longer_than_60s, cfg.flows / 2);
  EXPECT_GT(t.flows_with_idle_gap, 0u);
  EXPECT_LE(t.last_ts_ns - t.first_ts_ns, uint64_t{cfg.duration_s} * 1000000000ull);
  uint64_t kinds = 0;
  for (uint64_t k : t.kind_flows) kinds += k;
  EXPECT_EQ(kinds, cfg.flows);
  for (int k = 0; k < 9; ++k) EXPECT_GT(t.kind_flows[k], 0u) << GenTruth::kind_name(k);
}

TEST(Generator, SharesAreRespected) {
  GenConfig cfg = small_config(5);
  cfg.ipv6_share = 0;
  cfg.vlan_share = 0;
  std::string err;
  auto gen = TrafficGenerator::create(cfg, err);
  ASSERT_TRUE(gen) << err;
  GenPacket p;
  while (gen->next(p)) {
  }
  EXPECT_EQ(gen->truth().ipv6_packets, 0u);
  EXPECT_EQ(gen->truth().vlan_packets, 0u);
  EXPECT_EQ(gen->truth().flows_ignoring_vlan, cfg.flows);

  cfg.ipv6_share = 1;
  cfg.vlan_share = 1;
  gen = TrafficGenerator::create(cfg, err);
  ASSERT_TRUE(gen) << err;
  while (gen->next(p)) {
  }
  EXPECT_EQ(gen->truth().ipv4_packets, 0u);
  EXPECT_EQ(gen->truth().vlan_packets, cfg.packets);
}

TEST(Generator, RejectsImpossibleConfigurations) {
  std::string err;
  GenConfig c;
  c.flows = 1000;
  c.packets = 100;
  EXPECT_EQ(TrafficGenerator::create(c, err), nullptr);
  EXPECT_NE(err.find("--packets"), std::string::npos) << err;
  c = GenConfig{};
  c.flows = 0;
  EXPECT_EQ(TrafficGenerator::create(c, err), nullptr);
  EXPECT_NE(err.find("--flows"), std::string::npos) << err;
  c = GenConfig{};
  c.ipv6_share = 1.5;
  EXPECT_EQ(TrafficGenerator::create(c, err), nullptr);
  GenTruth t;
  EXPECT_FALSE(write_capture(GenConfig{}, "/nonexistent-dir/x.pcap", t, err));
  EXPECT_NE(err.find("/nonexistent-dir/x.pcap"), std::string::npos) << err;
}

}  // namespace
