// Rule benchmarks: what loading the ET Open 2017 rules costs the control
// plane, and how many bits per second one worker's RuleSet::match gets
// through on payload-heavy traffic.
//
//   BM_EtParseBuild      parse every .rules file of the ET Open 2017 tarball
//                        and compile the loadable rules (target: < 5 s for
//                        the whole file); counters give the rule tallies and
//                        the parse and build times separately.
//   BM_SyntheticBuild    the same for the generated rule set below.
//   BM_ScanEt/N          RuleSet::match over an in-memory traffic corpus
//   BM_ScanSynthetic/N   with ET Open loaded, or a generated set of a few
//                        thousand content rules (runs without /work/shared).
//                        N picks the corpus: 0 mix, 1 http, 2 tls, 3 dns.
//
// The traffic is built in memory, seeded, so every run scans the same bytes:
// HTTP requests and responses (headers, HTML/JSON text bodies, compressed
// and image bodies), TLS records (ClientHello with SNI, certificate flight,
// application data) and DNS queries and answers. Most bytes are in full
// 1460-byte segments, as on a link carrying bulk transfers, because that is
// where the prefilter's bytes-per-second figure matters; DNS shows the
// per-packet floor on small payloads.
//
// The synthetic rules are written as rule text and go through the parser,
// so they are ordinary Rules. Their tokens come from the same function the
// traffic generator uses to plant a few of them in request URIs, so some
// rules really match and the confirm stage does real work, not only misses.
//
// Only RuleSet::match is timed in the scan benchmarks; the ET tarball is
// extracted into a temp dir once (tar via std::system) and removed at exit.
// Without the shared test data the ET benchmarks stop with SkipWithError and
// the synthetic ones still run. WS_TESTDATA_DIR in the environment overrides
// the compiled-in path.
//
//   build/bench/rules/rule_bench [--benchmark_filter=Scan]
#include <benchmark/benchmark.h>
#include <stdlib.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "rules/classification.h"
#include "rules/matcher.h"
#include "rules/rule_parser.h"

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------
// Tokens shared by the synthetic rules and the traffic that plants them.

constexpr size_t kSyntheticRules = 4000;
constexpr uint32_t kSyntheticSidBase = 9000000;

// A stable pseudo-random stream per index: splitmix64.
uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// 10..14 characters of [a-z0-9]: long enough never to occur by chance in
// the corpus, short enough to look like a URI component.
std::string token(uint32_t i) {
  static constexpr char kAlnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  uint64_t s = mix64(i * 2654435761u + 17);
  std::string t;
  const size_t len = 10 + s % 5;
  for (size_t k = 0; k < len; ++k) {
    s = mix64(s);
    t.push_back(kAlnum[s % 36]);
  }
  return t;
}

// Index classes of the synthetic set (i % 20): 0..9 HTTP request URI
// contents, 10..13 binary to_client contents, 14..16 DNS query names,
// 17..18 TLS record contents; 19 is one more URI content, except that one
// in five (i % 100 == 19, 1% of the set) takes a common HTTP header as its
// fast pattern and is confirmed with pcre: the kind of rule that is a
// candidate on every request or response head and rarely matches. More of
// them would turn the HTTP figure into a PCRE benchmark.
std::string hex_bytes(uint64_t s, size_t n) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out = "|";
  for (size_t k = 0; k < n; ++k) {
    s = mix64(s);
    if (k) out.push_back(' ');
    out.push_back(kHex[(s >> 4) & 15]);
    out.push_back(kHex[s & 15]);
  }
  out.push_back('|');
  return out;
}

std::string hex_byte(size_t v) {
  char b[8];
  std::snprintf(b, sizeof b, "|%02X|", static_cast<unsigned>(v & 0xff));
  return b;
}

std::string synthetic_rules_text(size_t n) {
  static constexpr const char* kCommon[][2] = {
      {"User-Agent|3a| ", "to_server"},
      {"Host|3a| ", "to_server"},
      {"Content-Type|3a| ", "to_client"},
      {"HTTP/1.1 200 OK", "to_client"},
  };
  std::string text;
  text.reserve(n * 200);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t sid = kSyntheticSidBase + static_cast<uint32_t>(i);
    const uint64_t s = mix64(i + 0x5eed);
    const std::string tok = token(static_cast<uint32_t>(i));
    const std::string tail = "sid:" + std::to_string(sid) + "; rev:1;)\n";
    const size_t cls = i % 20;
    if (cls < 10) {
      text += "alert tcp $HOME_NET any -> $EXTERNAL_NET $HTTP_PORTS (msg:\"synthetic uri " + tok +
              "\"; flow:established,to_server; content:\"/" + tok + "\"; " + (i % 2 ? "nocase; " : "") +
              "content:\" HTTP/1.\"; distance:0; " + tail;
    } else if (cls < 14) {
      text += "alert tcp $EXTERNAL_NET any -> $HOME_NET any (msg:\"synthetic binary " + std::to_string(i) +
              "\"; flow:established,to_client; content:\"" + hex_bytes(s, 6) + "\"; content:\"" +
              hex_bytes(s + 1, 3) + "\"; distance:0; within:64; " + tail;
    } else if (cls < 17) {
      // A query for <tok>.com: the name as DNS labels after the header.
      text += "alert udp $HOME_NET any -> any 53 (msg:\"synthetic dns " + tok +
              "\"; content:\"|01 00 00 01|\"; offset:2; depth:4; content:\"" + hex_byte(tok.size()) +
              tok + "|03|com\"; nocase; distance:0; " + tail;
    } else if (cls < 19) {
      text += "alert tcp $EXTERNAL_NET 443 -> $HOME_NET any (msg:\"synthetic tls " + std::to_string(i) +
              "\"; flow:established,to_client; content:\"|16 03|\"; depth:2; content:\"" + hex_bytes(s, 5) +
              "\"; distance:0; " + tail;
    } else if (i % 100 != 19) {
      text += "alert tcp $HOME_NET any -> $EXTERNAL_NET $HTTP_PORTS (msg:\"synthetic uri " + tok +
              "\"; flow:established,to_server; content:\"/" + tok + "\"; nocase; " + tail;
    } else {
      const auto& c = kCommon[(i / 100) % 4];
      text += std::string("alert tcp any any -> any any (msg:\"synthetic header pcre ") + tok +
              "\"; flow:established," + c[1] + "; content:\"" + c[0] + "\"; fast_pattern; pcre:\"/" + tok +
              "[0-9]{0,4}/i\"; " + tail;
    }
  }
  return text;
}

// ---------------------------------------------------------------------------
// Traffic corpus.

enum Corpus : int { kMix = 0, kHttp = 1, kTls = 2, kDns = 3 };
constexpr const char* kCorpusName[] = {"mix", "http", "tls", "dns"};

struct TrafficPacket {
  std::vector<uint8_t> payload;
  uint8_t proto = 6;
  bool to_server = true;
  bool established = true;
  uint8_t tcp_flags = 0x18;  // PSH|ACK
  uint32_t client = 0, server = 0;  // host order
  uint16_t cport = 0, sport = 0;
  uint32_t flow = 0;  // index of the flow's flowbits
};

constexpr size_t kSegment = 1460;

class TrafficGen {
 public:
  explicit TrafficGen(uint64_t seed) : rng_(seed) {}

  std::vector<TrafficPacket> corpus(Corpus kind, size_t target_bytes, size_t max_packets) {
    std::vector<TrafficPacket> out;
    size_t bytes = 0;
    while (bytes < target_bytes && out.size() < max_packets) {
      Corpus k = kind;
      if (k == kMix) {
        // Flows by count; bytes end up mostly TLS and HTTP bodies.
        const unsigned r = pick(100);
        k = r < 40 ? kHttp : r < 75 ? kTls : kDns;
      }
      const size_t first = out.size();
      begin_flow(k);
      switch (k) {
        case kHttp: http_flow(out); break;
        case kTls: tls_flow(out); break;
        default: dns_flow(out); break;
      }
      for (size_t i = first; i < out.size(); ++i) bytes += out[i].payload.size();
    }
    return out;
  }

 private:
  unsigned pick(unsigned n) { return static_cast<unsigned>(rng_() % n); }
  uint8_t byte() { return static_cast<uint8_t>(rng_()); }

  const char* word() {
    static constexpr const char* kWords[] = {
        "news",    "index",  "static", "assets", "images",  "api",     "v2",      "user",   "account", "login",
        "search",  "product", "cart",  "video",  "stream",  "content", "article", "blog",   "media",   "cdn",
        "update",  "config", "report", "sports", "weather", "mail",    "share",   "social", "photo",   "music",
        "travel",  "health", "market", "store",  "support", "about",   "contact", "help",   "docs",    "team",
        "the",     "and",    "with",   "from",   "this",    "that",    "which",   "their",  "about",   "would",
        "there",   "could",  "other",  "after",  "first",   "never",   "these",   "think",  "where",   "being"};
    return kWords[pick(sizeof kWords / sizeof kWords[0])];
  }

  void begin_flow(Corpus k) {
    cur_.client = (10u << 24) | (pick(4) << 16) | (pick(250) + 2) << 8 | (pick(250) + 2);
    static constexpr uint32_t kNets[] = {0x5db80000, 0x97650000, 0x8efa0000, 0x68100000, 0x17d40000};
    cur_.server = kNets[pick(5)] | pick(65536);
    cur_.cport = static_cast<uint16_t>(32768 + pick(28000));
    cur_.sport = k == kHttp ? 80 : k == kTls ? 443 : 53;
    cur_.proto = k == kDns ? 17 : 6;
    cur_.flow = flow_++ % kFlowSlots;
  }

  TrafficPacket packet(bool to_server, std::vector<uint8_t> payload, bool established = true) {
    TrafficPacket p = cur_;
    p.to_server = to_server;
    p.established = established;
    p.tcp_flags = p.proto == 6 ? 0x18 : 0;
    p.payload = std::move(payload);
    return p;
  }

  static void append(std::vector<uint8_t>& b, std::string_view s) { b.insert(b.end(), s.begin(), s.end()); }

  // Words and markup up to n bytes: what HTML, JS and JSON bodies look
  // like to a literal matcher (mostly lowercase ASCII, some punctuation).
  void text_fill(std::vector<uint8_t>& b, size_t n) {
    static constexpr const char* kMarkup[] = {"<p>", "</p>\n", "<div class=\"", "\">", "</div>\n", "<a href=\"/",
                                              "</a>", "\": \"", "\", \"", "function(", ") { return ", "; }\n",
                                              "<span>", "</span>", "<li>", "</li>\n"};
    while (b.size() < n) {
      if (pick(4) == 0)
        append(b, kMarkup[pick(sizeof kMarkup / sizeof kMarkup[0])]);
      else {
        append(b, word());
        b.push_back(' ');
      }
    }
    b.resize(n);
  }

  void random_fill(std::vector<uint8_t>& b, size_t n) {
    while (b.size() < n) b.push_back(byte());
  }

  std::string host() { return std::string("www.") + word() + std::to_string(pick(100)) + ".com"; }

  void http_flow(std::vector<TrafficPacket>& out) {
    const unsigned requests = 1 + pick(3);
    for (unsigned r = 0; r < requests; ++r) {
      // Request: a GET or a POST with a form or JSON body.
      std::vector<uint8_t> req;
      const bool post = pick(5) == 0;
      std::string path = std::string("/") + word() + "/" + word();
      if (pick(50) == 0) {
        // Plant a synthetic URI token (~2% of requests) so some rules match.
        size_t i = 20 * pick(kSyntheticRules / 20) + pick(10);
        path = "/" + token(static_cast<uint32_t>(i)) + path;
      }
      path += pick(2) ? ".php?id=" + std::to_string(pick(100000)) : ".html";
      append(req, std::string(post ? "POST " : "GET ") + path + " HTTP/1.1\r\nHost: " + host() +
                      "\r\nUser-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
                      "Gecko) Chrome/120.0.0.0 Safari/537.36\r\n"
                      "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
                      "Accept-Language: en-US,en;q=0.9\r\nAccept-Encoding: gzip, deflate\r\nCookie: session=");
      for (int k = 0; k < 32; ++k) req.push_back("0123456789abcdef"[pick(16)]);
      append(req, "\r\nConnection: keep-alive\r\n");
      if (post) {
        const size_t body = 100 + pick(1000);
        append(req, "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: " + std::to_string(body) +
                        "\r\n\r\n");
        const size_t end = std::min(req.size() + body, kSegment);
        while (req.size() < end) {
          append(req, word());
          req.push_back(pick(3) ? '=' : '&');
        }
        req.resize(end);
      } else {
        append(req, "\r\n");
      }
      out.push_back(packet(true, std::move(req)));

      // Response: headers and the first part of the body in one segment,
      // then full segments. Text bodies mostly; some compressed or image.
      const unsigned kind = pick(10);  // 0..5 html, 6..7 json, 8 gzip, 9 jpeg
      const size_t segments = 1 + pick(kind >= 8 ? 12 : 6);
      const size_t length = segments * kSegment - 300;
      std::vector<uint8_t> head;
      append(head, "HTTP/1.1 200 OK\r\nServer: nginx/1.18.0\r\nDate: Mon, 06 Nov 2017 10:00:00 GMT\r\nContent-Type: ");
      append(head, kind < 6 ? "text/html; charset=utf-8" : kind < 8 ? "application/json" : kind == 8
                                                                                       ? "application/javascript"
                                                                                       : "image/jpeg");
      append(head, kind == 8 ? "\r\nContent-Encoding: gzip" : "");
      append(head, "\r\nContent-Length: " + std::to_string(length) +
                       "\r\nCache-Control: max-age=3600\r\nConnection: keep-alive\r\n\r\n");
      for (size_t sgm = 0; sgm < segments; ++sgm) {
        std::vector<uint8_t> b = sgm == 0 ? head : std::vector<uint8_t>{};
        if (kind < 8) {
          if (sgm == 0) append(b, kind < 6 ? "<!DOCTYPE html>\n<html><head><title>" : "{\"items\": [{\"name\": \"");
          text_fill(b, kSegment);
        } else {
          if (sgm == 0) append(b, kind == 8 ? std::string_view("\x1f\x8b\x08\x00", 4)
                                            : std::string_view("\xff\xd8\xff\xe0\x00\x10JFIF\x00", 11));
          random_fill(b, kSegment);
        }
        out.push_back(packet(false, std::move(b)));
      }
    }
  }

  static void put16(std::vector<uint8_t>& b, size_t v) {
    b.push_back(static_cast<uint8_t>(v >> 8));
    b.push_back(static_cast<uint8_t>(v));
  }

  void tls_flow(std::vector<TrafficPacket>& out) {
    // ClientHello with SNI: record header, handshake header, random,
    // session id, cipher suites, extensions.
    std::vector<uint8_t> ch = {0x16, 0x03, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x03, 0x03};
    random_fill(ch, ch.size() + 32);
    ch.push_back(32);
    random_fill(ch, ch.size() + 32);
    static constexpr uint8_t kSuites[] = {0x13, 0x01, 0x13, 0x02, 0x13, 0x03, 0xc0, 0x2b, 0xc0, 0x2f, 0xc0,
                                          0x2c, 0xc0, 0x30, 0xcc, 0xa9, 0xcc, 0xa8, 0xc0, 0x13, 0xc0, 0x14,
                                          0x00, 0x9c, 0x00, 0x9d, 0x00, 0x2f, 0x00, 0x35};
    put16(ch, sizeof kSuites);
    ch.insert(ch.end(), kSuites, kSuites + sizeof kSuites);
    ch.push_back(1);
    ch.push_back(0);
    const std::string sni = host();
    std::vector<uint8_t> ext = {0x00, 0x00};
    put16(ext, sni.size() + 5);
    put16(ext, sni.size() + 3);
    ext.push_back(0);
    put16(ext, sni.size());
    append(ext, sni);
    // supported_groups, ec_point_formats, ALPN h2/http1.1, key_share
    static constexpr uint8_t kExt[] = {0x00, 0x0a, 0x00, 0x08, 0x00, 0x06, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18,
                                       0x00, 0x0b, 0x00, 0x02, 0x01, 0x00, 0x00, 0x10, 0x00, 0x0e, 0x00, 0x0c,
                                       0x02, 'h',  '2',  0x08, 'h',  't',  't',  'p',  '/',  '1',  '.',  '1',
                                       0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20};
    ext.insert(ext.end(), kExt, kExt + sizeof kExt);
    random_fill(ext, ext.size() + 32);
    put16(ch, ext.size());
    ch.insert(ch.end(), ext.begin(), ext.end());
    const size_t rec = ch.size() - 5, hs = ch.size() - 9;
    ch[3] = static_cast<uint8_t>(rec >> 8);
    ch[4] = static_cast<uint8_t>(rec);
    ch[6] = static_cast<uint8_t>(hs >> 16);
    ch[7] = static_cast<uint8_t>(hs >> 8);
    ch[8] = static_cast<uint8_t>(hs);
    out.push_back(packet(true, std::move(ch)));

    // Server flight: ServerHello, then a certificate (DER with a few ASCII
    // names in it) filling two segments.
    std::vector<uint8_t> sh = {0x16, 0x03, 0x03, 0x00, 0x5a, 0x02, 0x00, 0x00, 0x56, 0x03, 0x03};
    random_fill(sh, sh.size() + 32);
    sh.push_back(32);
    random_fill(sh, sh.size() + 32);
    static constexpr uint8_t kTail[] = {0xc0, 0x2f, 0x00, 0x00, 0x0e, 0xff, 0x01, 0x00, 0x01,
                                        0x00, 0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02};
    sh.insert(sh.end(), kTail, kTail + sizeof kTail);
    static constexpr uint8_t kCert[] = {0x16, 0x03, 0x03, 0x0a, 0x30, 0x0b, 0x00, 0x0a, 0x2c,
                                        0x00, 0x0a, 0x29, 0x00, 0x05, 0x10, 0x30, 0x82, 0x05, 0x0c};
    sh.insert(sh.end(), kCert, kCert + sizeof kCert);
    for (int part = 0; part < 2; ++part) {
      std::vector<uint8_t>& b = sh;
      while (b.size() < kSegment) {
        random_fill(b, std::min(kSegment, b.size() + 40 + pick(200)));
        static constexpr const char* kNames[] = {"Let's Encrypt", "R3", "DigiCert Inc", "www.digicert.com",
                                                 "US", "California", "San Francisco", "http://ocsp.int-x3.letsencrypt.org"};
        const std::string_view n = kNames[pick(8)];
        if (b.size() + n.size() + 2 < kSegment) {
          b.push_back(0x13);
          b.push_back(static_cast<uint8_t>(n.size()));
          append(b, n);
        }
      }
      b.resize(kSegment);
      out.push_back(packet(false, std::move(b)));
      sh.clear();
    }

    // Application data both ways: a short request, then records of up to
    // 16 KiB cut into full segments; a segment may start mid-record.
    std::vector<uint8_t> req = {0x17, 0x03, 0x03};
    const size_t rl = 200 + pick(600);
    put16(req, rl);
    random_fill(req, req.size() + rl);
    out.push_back(packet(true, std::move(req)));
    const size_t segments = 4 + pick(30);
    size_t left_in_record = 0;
    for (size_t sgm = 0; sgm < segments; ++sgm) {
      std::vector<uint8_t> b;
      while (b.size() < kSegment) {
        if (left_in_record == 0) {
          b.push_back(0x17);
          b.push_back(0x03);
          b.push_back(0x03);
          left_in_record = 16384 + 22;
          put16(b, left_in_record);
        }
        const size_t take = std::min(left_in_record, kSegment - b.size());
        random_fill(b, b.size() + take);
        left_in_record -= take;
      }
      b.resize(kSegment);
      out.push_back(packet(false, std::move(b)));
    }
  }

  void dns_name(std::vector<uint8_t>& b, bool plant) {
    std::string labels[3] = {"www", word(), "com"};
    if (plant) labels[1] = token(static_cast<uint32_t>(20 * pick(kSyntheticRules / 20) + 14 + pick(3)));
    for (const std::string& l : labels) {
      b.push_back(static_cast<uint8_t>(l.size()));
      append(b, l);
    }
    b.push_back(0);
  }

  void dns_flow(std::vector<TrafficPacket>& out) {
    const uint16_t id = static_cast<uint16_t>(pick(65536));
    const uint16_t qtype = pick(3) == 0 ? 28 : pick(4) == 0 ? 65 : 1;  // AAAA, HTTPS, A
    std::vector<uint8_t> q;
    put16(q, id);
    static constexpr uint8_t kQHead[] = {0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    q.insert(q.end(), kQHead, kQHead + sizeof kQHead);
    dns_name(q, pick(50) == 0);
    put16(q, qtype);
    put16(q, 1);
    std::vector<uint8_t> r = q;
    r[2] = 0x81;
    r[3] = 0x80;
    const unsigned answers = 1 + pick(4);
    r[7] = static_cast<uint8_t>(answers);
    for (unsigned a = 0; a < answers; ++a) {
      r.push_back(0xc0);
      r.push_back(0x0c);
      const bool cname = a == 0 && answers > 1;
      put16(r, cname ? 5 : qtype == 28 ? 28 : 1);
      put16(r, 1);
      put16(r, 0);
      put16(r, 300);
      if (cname) {
        std::vector<uint8_t> name;
        dns_name(name, false);
        put16(r, name.size());
        r.insert(r.end(), name.begin(), name.end());
      } else {
        const size_t n = qtype == 28 ? 16 : 4;
        put16(r, n);
        random_fill(r, r.size() + n);
      }
    }
    out.push_back(packet(true, std::move(q), false));
    out.push_back(packet(false, std::move(r), true));
  }

 public:
  // Flowbits are per flow; flows reuse this many slots (the rules only see
  // bits their own earlier packets set).
  static constexpr uint32_t kFlowSlots = 256;

 private:
  std::mt19937_64 rng_;
  TrafficPacket cur_;
  uint32_t flow_ = 0;
};

const std::vector<TrafficPacket>& corpus(Corpus kind) {
  // About 4 MB per corpus (well past the caches, as live traffic is); the
  // DNS corpus is capped by packets instead.
  static std::vector<TrafficPacket> cache[4];
  auto& c = cache[kind];
  if (c.empty()) c = TrafficGen(0x7261666669630000ull + kind).corpus(kind, 4u << 20, 40000);
  return c;
}

// ---------------------------------------------------------------------------
// ET Open 2017: extracted once, removed at exit.

struct EtFiles {
  std::string error;  // non-empty: the ET benchmarks skip with this
  fs::path dir;
  std::vector<std::string> files;  // sorted, so every run parses in one order

  EtFiles() {
    const char* env = std::getenv("WS_TESTDATA_DIR");
    const fs::path data = env && *env ? fs::path(env) : fs::path(WS_TESTDATA_DIR);
    const fs::path tarball = data / "et-open-2017" / "emerging.rules.tar.gz";
    if (!fs::exists(tarball)) {
      error = tarball.string() +
              " not present: the ET Open benchmarks need the shared test data (set WS_TESTDATA_DIR to the "
              "directory holding et-open-2017/)";
      return;
    }
    std::string tmpl = (fs::temp_directory_path() / "ws-rulebench-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) {
      error = "mkdtemp in " + fs::temp_directory_path().string() + " failed: " + std::strerror(errno);
      return;
    }
    dir = tmpl;
    const std::string cmd = "tar -xzf '" + tarball.string() + "' -C '" + dir.string() + "'";
    if (std::system(cmd.c_str()) != 0) {
      error = "could not extract the ET Open tarball: `" + cmd + "` failed";
      return;
    }
    for (const auto& ent : fs::recursive_directory_iterator(dir))
      if (ent.path().extension() == ".rules") files.push_back(ent.path().string());
    std::sort(files.begin(), files.end());
    if (files.empty()) error = tarball.string() + " holds no .rules files";
  }
  ~EtFiles() {
    std::error_code ec;
    if (!dir.empty()) fs::remove_all(dir, ec);
  }
};

EtFiles& et_files() {
  static EtFiles f;
  return f;
}

struct Loaded {
  std::string error;
  size_t parsed = 0, parse_failures = 0, disabled = 0;
  std::vector<ws::RuleError> rejected;
  std::shared_ptr<const ws::RuleSet> set;
  double parse_s = 0, build_s = 0;
};

template <typename ParseAll>
Loaded load(ParseAll&& parse_all) {
  Loaded l;
  std::vector<ws::Rule> rules;
  const auto t0 = Clock::now();
  parse_all(rules, l);
  const auto t1 = Clock::now();
  l.parsed = rules.size();
  std::string err;
  l.set = ws::RuleSet::build(rules, &err, &l.rejected);
  const auto t2 = Clock::now();
  if (!l.set) l.error = "RuleSet::build failed: " + err;
  l.parse_s = std::chrono::duration<double>(t1 - t0).count();
  l.build_s = std::chrono::duration<double>(t2 - t1).count();
  return l;
}

void add_file(ws::RuleFileResult&& f, std::vector<ws::Rule>& rules, Loaded& l) {
  l.parse_failures += f.errors.size();
  l.disabled += f.disabled;
  for (ws::Rule& r : f.rules) rules.push_back(std::move(r));
}

Loaded load_et() {
  const EtFiles& files = et_files();
  if (!files.error.empty()) {
    Loaded l;
    l.error = files.error;
    return l;
  }
  const ws::RuleVars vars = ws::RuleVars::suricata_defaults();
  const ws::ClassificationTable classes = ws::ClassificationTable::suricata_defaults();
  ws::RuleParseOptions opts;
  opts.classifications = &classes;
  return load([&](std::vector<ws::Rule>& rules, Loaded& l) {
    for (const std::string& path : files.files) add_file(ws::parse_rules_file(path, vars, opts), rules, l);
  });
}

Loaded load_synthetic(size_t n) {
  const ws::RuleVars vars = ws::RuleVars::suricata_defaults();
  const std::string text = synthetic_rules_text(n);
  return load([&](std::vector<ws::Rule>& rules, Loaded& l) {
    add_file(ws::parse_rules_text(text, vars, "synthetic.rules"), rules, l);
  });
}

// Rules confirmed on every packet of their group for want of a fast pattern.
size_t always_check_rules(const ws::RuleSet& set) {
  size_t n = 0;
  for (size_t i = 0; i < set.size(); ++i) {
    const ws::FastPattern* fp = set.fast_pattern(i);
    n += !fp || fp->negated;
  }
  return n;
}

// ---------------------------------------------------------------------------
// Benchmarks.

void report_load(benchmark::State& state, const Loaded& l, double parse_s, double build_s) {
  using benchmark::Counter;
  state.counters["parsed"] = static_cast<double>(l.parsed);
  state.counters["parse_failures"] = static_cast<double>(l.parse_failures);
  state.counters["loaded"] = static_cast<double>(l.set->size());
  state.counters["rejected"] = static_cast<double>(l.rejected.size());
  state.counters["groups"] = static_cast<double>(l.set->groups().size());
  state.counters["always_check"] = static_cast<double>(always_check_rules(*l.set));
  state.counters["db_bytes"] = Counter(static_cast<double>(l.set->database_bytes()), Counter::kDefaults,
                                       Counter::kIs1024);
  state.counters["parse_s"] = Counter(parse_s, Counter::kAvgIterations);
  state.counters["build_s"] = Counter(build_s, Counter::kAvgIterations);
}

template <typename LoadFn>
void run_load(benchmark::State& state, LoadFn&& load_fn) {
  double parse_s = 0, build_s = 0;
  Loaded last;
  for (auto _ : state) {
    Loaded l = load_fn();
    if (!l.error.empty()) {
      state.SkipWithError(l.error.c_str());
      return;
    }
    parse_s += l.parse_s;
    build_s += l.build_s;
    // Freeing the rule set is not part of loading it.
    state.PauseTiming();
    last = std::move(l);
    state.ResumeTiming();
  }
  report_load(state, last, parse_s, build_s);
}

void BM_EtParseBuild(benchmark::State& state) {
  if (!et_files().error.empty()) {
    state.SkipWithError(et_files().error.c_str());
    return;
  }
  run_load(state, load_et);
}
BENCHMARK(BM_EtParseBuild)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_SyntheticBuild(benchmark::State& state) {
  run_load(state, [&] { return load_synthetic(static_cast<size_t>(state.range(0))); });
}
BENCHMARK(BM_SyntheticBuild)->Arg(kSyntheticRules)->Unit(benchmark::kMillisecond)->UseRealTime();

double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void run_scan(benchmark::State& state, const ws::RuleSet& set) {
  const auto kind = static_cast<Corpus>(state.range(0));
  const std::vector<TrafficPacket>& pkts = corpus(kind);
  state.SetLabel(kCorpusName[kind]);

  // Inputs and flowbits prepared outside the timed loop.
  const size_t words = (set.flowbit_count() + 63) / 64;
  std::vector<uint64_t> bits(words * TrafficGen::kFlowSlots);
  std::vector<ws::MatchInput> in(pkts.size());
  int64_t bytes = 0;
  for (size_t i = 0; i < pkts.size(); ++i) {
    const TrafficPacket& p = pkts[i];
    ws::MatchInput& m = in[i];
    m.payload = p.payload;
    m.ip_proto = p.proto;
    const uint32_t src = p.to_server ? p.client : p.server, dst = p.to_server ? p.server : p.client;
    for (int k = 0; k < 4; ++k) {
      m.src[k] = static_cast<uint8_t>(src >> (24 - 8 * k));
      m.dst[k] = static_cast<uint8_t>(dst >> (24 - 8 * k));
    }
    m.sport = p.to_server ? p.cport : p.sport;
    m.dport = p.to_server ? p.sport : p.cport;
    m.has_flow = true;
    m.to_server = p.to_server;
    m.established = p.established;
    m.ttl = 64;
    m.tcp_flags = p.tcp_flags;
    if (words) m.flowbits = std::span<uint64_t>(bits.data() + p.flow * words, words);
    bytes += static_cast<int64_t>(p.payload.size());
  }

  auto scratch = set.make_scratch();
  if (!scratch) {
    state.SkipWithError("make_scratch failed (hs_alloc_scratch)");
    return;
  }
  uint64_t hits = 0;
  // Gbit/s is payload bits over this thread's CPU time in the loop (as the
  // CPU column and bytes_per_second): a worker's own cost, less skewed by
  // other load on a shared machine than wall time.
  const double cpu0 = thread_cpu_s();
  for (auto _ : state) {
    // Every pass starts from clean flows, so every pass does the same work.
    std::fill(bits.begin(), bits.end(), 0);
    for (const ws::MatchInput& m : in) hits += set.match(m, *scratch, [](const ws::Rule&) {});
  }
  const double cpu_s = thread_cpu_s() - cpu0;
  benchmark::DoNotOptimize(hits);

  const ws::MatchCounters& c = scratch->counters;
  const double packets = static_cast<double>(state.iterations()) * static_cast<double>(in.size());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * bytes);
  state.SetItemsProcessed(static_cast<int64_t>(packets));
  state.counters["Gbit/s"] =
      cpu_s > 0 ? static_cast<double>(state.iterations()) * static_cast<double>(bytes) * 8 / 1e9 / cpu_s : 0;
  state.counters["avg_payload"] = static_cast<double>(bytes) / static_cast<double>(in.size());
  state.counters["cand/pkt"] = static_cast<double>(c.candidates) / packets;
  state.counters["always/pkt"] = static_cast<double>(c.always_checked) / packets;
  state.counters["match/pkt"] = static_cast<double>(c.matches) / packets;
  state.counters["scan_errors"] = static_cast<double>(c.scan_errors);
  state.counters["pcre_errors"] = static_cast<double>(c.pcre_errors);
  if (c.scan_errors) state.SkipWithError("hs_scan failed on some payloads (scan_errors > 0)");
}

// The loaded sets for the scan benchmarks: built once, on first use.
const Loaded& et_set() {
  static const Loaded l = load_et();
  return l;
}
const Loaded& synthetic_set() {
  static const Loaded l = load_synthetic(kSyntheticRules);
  return l;
}

void BM_ScanEt(benchmark::State& state) {
  const Loaded& l = et_set();
  if (!l.error.empty()) {
    state.SkipWithError(l.error.c_str());
    return;
  }
  run_scan(state, *l.set);
}
BENCHMARK(BM_ScanEt)->DenseRange(kMix, kDns)->Unit(benchmark::kMillisecond);

void BM_ScanSynthetic(benchmark::State& state) {
  const Loaded& l = synthetic_set();
  if (!l.error.empty()) {
    state.SkipWithError(l.error.c_str());
    return;
  }
  run_scan(state, *l.set);
}
BENCHMARK(BM_ScanSynthetic)->DenseRange(kMix, kDns)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
