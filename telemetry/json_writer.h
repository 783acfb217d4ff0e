// JsonWriter: a small, allocation-free (after warm-up) JSON line builder for
// event output. Exporters format hundreds of thousands of records a second on
// the export thread, so this is hand-written appends into one reusable byte
// buffer: no DOM, no per-field heap, numbers through std::to_chars. The
// buffer only grows (doubling) when a batch outgrows it, which settles after
// the first few batches.
//
// The writer tracks commas itself: key() and the value calls insert the
// separator when the enclosing object or array already has a member, so
// callers write fields in order and never think about punctuation. Nesting
// is bounded (kMaxDepth) because event schemas are fixed and shallow.
//
// Keys are written verbatim (they are string literals chosen by the code);
// string values pass through escape() so names taken from outside
// (interface names, protocol labels) cannot break the line.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>

namespace ws {

class JsonWriter {
 public:
  static constexpr int kMaxDepth = 8;

  explicit JsonWriter(size_t reserve = 16 * 1024) { grow(reserve); }
  ~JsonWriter() { std::free(buf_); }
  JsonWriter(const JsonWriter&) = delete;
  JsonWriter& operator=(const JsonWriter&) = delete;

  // Drops the content but keeps the memory.
  void clear() {
    len_ = 0;
    depth_ = 0;
  }
  size_t size() const { return len_; }
  const char* data() const { return buf_; }
  std::string_view view() const { return {buf_, len_}; }

  // Makes room for at least n more bytes; the raw appends below rely on it.
  void reserve_more(size_t n) {
    if (len_ + n > cap_) grow(len_ + n);
  }

  void begin_object() { open('{'); }
  void begin_object(std::string_view k) { key(k); open_nested('{'); }
  void end_object() { close('}'); }
  void begin_array(std::string_view k) { key(k); open_nested('['); }
  // For keys that come from input (rule metadata): escaped like a value.
  void begin_array_escaped_key(std::string_view k) {
    reserve_more(k.size() * 6 + 4);
    separator();
    buf_[len_++] = '"';
    escape(k);
    buf_[len_++] = '"';
    buf_[len_++] = ':';
    after_key_ = true;
    open_nested('[');
  }
  void end_array() { close(']'); }
  // Ends the current top-level value with a newline (JSON lines).
  void newline() { put('\n'); }

  // Writes `"k":` with a leading comma when needed.
  void key(std::string_view k) {
    reserve_more(k.size() + 4);
    separator();
    buf_[len_++] = '"';
    std::memcpy(buf_ + len_, k.data(), k.size());
    len_ += k.size();
    buf_[len_++] = '"';
    buf_[len_++] = ':';
    after_key_ = true;
  }

  void field(std::string_view k, std::string_view v) { key(k); string(v); }
  void field_u64(std::string_view k, uint64_t v) { key(k); u64(v); }
  void field_bool(std::string_view k, bool v) { key(k); raw(v ? "true" : "false"); }
  // For values the caller guarantees need no escaping (formatted numbers,
  // addresses, fixed names): skips the escape scan.
  void field_plain(std::string_view k, std::string_view v) { key(k); plain_string(v); }

  void u64(uint64_t v) {
    reserve_more(24);
    separator();
    auto r = std::to_chars(buf_ + len_, buf_ + len_ + 21, v);
    len_ = static_cast<size_t>(r.ptr - buf_);
  }

  void plain_string(std::string_view v) {
    reserve_more(v.size() + 3);
    separator();
    buf_[len_++] = '"';
    std::memcpy(buf_ + len_, v.data(), v.size());
    len_ += v.size();
    buf_[len_++] = '"';
  }

  void string(std::string_view v) {
    // Worst case every byte becomes \u00XX.
    reserve_more(v.size() * 6 + 3);
    separator();
    buf_[len_++] = '"';
    escape(v);
    buf_[len_++] = '"';
  }

  // Appends raw bytes as a value (e.g. true/false/null).
  void raw(std::string_view v) {
    reserve_more(v.size() + 1);
    separator();
    std::memcpy(buf_ + len_, v.data(), v.size());
    len_ += v.size();
  }

  // Raw byte access for formatters that write fixed-size text (timestamps,
  // addresses) straight into the buffer: reserve, write, then commit.
  char* tail() { return buf_ + len_; }
  void commit(size_t n) { len_ += n; }
  // After key(): reserve, write a whole value at tail(), then commit it.
  void commit_value(size_t n) {
    separator();  // consumes the pending key
    len_ += n;
  }

 private:
  void grow(size_t want) {
    size_t cap = cap_ ? cap_ : 256;
    while (cap < want) cap *= 2;
    void* p = std::realloc(buf_, cap);
    if (!p) throw std::bad_alloc();  // control-plane sized; never per record once warm
    buf_ = static_cast<char*>(p);
    cap_ = cap;
  }

  void put(char c) {
    reserve_more(1);
    buf_[len_++] = c;
  }

  // Emits a comma before a member/element that is not the first one.
  void separator() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (depth_ > 0 && depth_ <= kMaxDepth) {
      if (has_member_[depth_ - 1]) buf_[len_++] = ',';
      has_member_[depth_ - 1] = true;
    }
  }

  void open(char c) {
    reserve_more(2);
    separator();
    push(c);
  }
  void open_nested(char c) {
    reserve_more(1);
    after_key_ = false;
    push(c);
  }
  void push(char c) {
    buf_[len_++] = c;
    if (depth_ < kMaxDepth) has_member_[depth_] = false;
    ++depth_;
  }
  void close(char c) {
    put(c);
    if (depth_ > 0) --depth_;
  }

  // Length of the well-formed UTF-8 sequence starting at p (RFC 3629: no
  // overlong forms, no surrogates, nothing past U+10FFFF), 0 if it is not one.
  static size_t utf8_length(const unsigned char* p, size_t left) {
    const unsigned char c = p[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
      n = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return 0;
    }
    if (left < n || p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < n; ++i)
      if ((p[i] & 0xC0) != 0x80) return 0;
    return n;
  }

  // Escapes into the buffer (the caller reserved 6 bytes per input byte).
  // Bytes that are not well-formed UTF-8 (a server name or rule text taken
  // from the wire) become U+FFFD, one per byte, so every line stays JSON
  // that strict parsers accept.
  void escape(std::string_view v) {
    static constexpr char kHex[] = "0123456789abcdef";
    const auto* p = reinterpret_cast<const unsigned char*>(v.data());
    const size_t size = v.size();
    for (size_t i = 0; i < size; ++i) {
      const unsigned char c = p[i];
      if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
        buf_[len_++] = static_cast<char>(c);
        continue;
      }
      if (c >= 0x80) {
        if (const size_t n = utf8_length(p + i, size - i)) {
          std::memcpy(buf_ + len_, p + i, n);
          len_ += n;
          i += n - 1;
        } else {
          std::memcpy(buf_ + len_, "\\ufffd", 6);
          len_ += 6;
        }
        continue;
      }
      buf_[len_++] = '\\';
      switch (c) {
        case '"': buf_[len_++] = '"'; break;
        case '\\': buf_[len_++] = '\\'; break;
        case '\n': buf_[len_++] = 'n'; break;
        case '\r': buf_[len_++] = 'r'; break;
        case '\t': buf_[len_++] = 't'; break;
        case '\b': buf_[len_++] = 'b'; break;
        case '\f': buf_[len_++] = 'f'; break;
        default:
          buf_[len_++] = 'u';
          buf_[len_++] = '0';
          buf_[len_++] = '0';
          buf_[len_++] = kHex[c >> 4];
          buf_[len_++] = kHex[c & 15];
      }
    }
  }

  char* buf_ = nullptr;
  size_t len_ = 0;
  size_t cap_ = 0;
  int depth_ = 0;
  bool after_key_ = false;
  bool has_member_[kMaxDepth] = {};
};

}  // namespace ws
