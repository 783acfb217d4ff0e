#include "telemetry/json_writer.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace ws {
namespace {

// The text of {"v":<s>} as the writer escapes s.
std::string escaped(const std::string& s) {
  JsonWriter w(16);
  w.begin_object();
  w.field("v", s);
  w.end_object();
  return std::string(w.view());
}

// What a strict parser reads back from it (throws on invalid UTF-8).
std::string round_trip(const std::string& s) { return nlohmann::json::parse(escaped(s))["v"].get<std::string>(); }

TEST(JsonWriter, EscapesControlsQuotesAndBackslashes) {
  EXPECT_EQ(escaped(std::string("a\"b\\c\n\t\x01", 8)), "{\"v\":\"a\\\"b\\\\c\\n\\t\\u0001\"}");
  EXPECT_EQ(round_trip(std::string("x\0y", 3)), std::string("x\0y", 3));
}

TEST(JsonWriter, KeepsWellFormedUtf8) {
  for (const std::string s : {"caf\xc3\xa9", "\xe2\x82\xac 5", "\xf0\x9f\x98\x80", "\xed\x9f\xbf", "\xf4\x8f\xbf\xbf",
                              "\xef\xbf\xbd"}) {
    EXPECT_EQ(escaped(s), "{\"v\":\"" + s + "\"}");
    EXPECT_EQ(round_trip(s), s);
  }
}

TEST(JsonWriter, ReplacesMalformedUtf8PerByteSoTheLineStaysJson) {
  const std::string fffd = "\xef\xbf\xbd";
  struct Case {
    std::string in, out;
  } cases[] = {
      {"\xff", fffd},                                    // never valid
      {"a\x80z", "a" + fffd + "z"},                      // lone continuation byte
      {"\xc3", fffd},                                    // truncated at the end
      {"\xc3(", fffd + "("},                             // bad continuation
      {"\xc0\xaf", fffd + fffd},                         // overlong '/'
      {"\xe0\x80\xaf", fffd + fffd + fffd},              // overlong, 3 bytes
      {"\xed\xa0\x80", fffd + fffd + fffd},              // UTF-16 surrogate
      {"\xf4\x90\x80\x80", fffd + fffd + fffd + fffd},   // past U+10FFFF
      {"\xf5\x80\x80\x80", fffd + fffd + fffd + fffd},   // lead byte out of range
      {"ok\xe2\x82", "ok" + fffd + fffd},                // truncated 3-byte
  };
  for (const Case& c : cases) {
    std::string got;
    ASSERT_NO_THROW(got = round_trip(c.in)) << escaped(c.in);
    EXPECT_EQ(got, c.out) << escaped(c.in);
  }
  // The worst case (6 bytes out per byte in) fits what string() reserves.
  const std::string bad(5000, '\xff');
  std::string want;
  for (int i = 0; i < 5000; ++i) want += fffd;
  EXPECT_EQ(round_trip(bad), want);
}

}  // namespace
}  // namespace ws
