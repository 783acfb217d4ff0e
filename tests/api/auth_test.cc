#include "api/auth.h"

#include <gtest/gtest.h>

namespace ws {
namespace {

TEST(Auth, Sha256HexMatchesTheFips180Vector) {
  // FIPS 180-2 appendix B.1.
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("").size(), 64u);
  EXPECT_NE(sha256_hex("abc"), sha256_hex("abd"));
}

TEST(Auth, ChecksTokensAndRoles) {
  TokenTable t;
  ASSERT_EQ(t.set({{"ops", Role::kAdmin, sha256_hex("s3cret-admin")},
                   {"grafana", Role::kViewer, sha256_hex("view-only")}}),
            "");
  auto a = t.check("s3cret-admin");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->name, "ops");
  EXPECT_EQ(a->role, Role::kAdmin);
  auto v = t.check("view-only");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->name, "grafana");
  EXPECT_EQ(v->role, Role::kViewer);
  EXPECT_FALSE(t.check("s3cret-admi"));
  EXPECT_FALSE(t.check(""));
  // The hash itself is not a token.
  EXPECT_FALSE(t.check(sha256_hex("view-only")));
}

TEST(Auth, UpperCaseHashesAreAccepted) {
  std::string h = sha256_hex("tok");
  for (char& c : h) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  TokenTable t;
  ASSERT_EQ(t.set({{"x", Role::kViewer, h}}), "");
  EXPECT_TRUE(t.check("tok"));
}

TEST(Auth, RejectsBadTokenConfig) {
  TokenTable t;
  EXPECT_NE(t.set({{"", Role::kAdmin, sha256_hex("a")}}), "");
  EXPECT_NE(t.set({{"a", Role::kNone, sha256_hex("a")}}), "");
  EXPECT_NE(t.set({{"a", Role::kAdmin, "abcd"}}), "");
  EXPECT_NE(t.set({{"a", Role::kAdmin, std::string(64, 'g')}}), "");
  EXPECT_NE(t.set({{"a", Role::kAdmin, sha256_hex("1")}, {"a", Role::kViewer, sha256_hex("2")}}), "");
  EXPECT_TRUE(t.empty());  // nothing applied from a bad set
  EXPECT_EQ(check_sha256_hex(sha256_hex("x")), "");
}

TEST(Auth, ParsesBearerHeader) {
  EXPECT_EQ(TokenTable::bearer("Bearer abc").value(), "abc");
  EXPECT_EQ(TokenTable::bearer("bearer  abc ").value(), "abc");
  EXPECT_FALSE(TokenTable::bearer("Basic YWJj"));
  EXPECT_FALSE(TokenTable::bearer("Bearer"));
  EXPECT_FALSE(TokenTable::bearer("Bearer "));
  EXPECT_FALSE(TokenTable::bearer("Bearerabc"));
  EXPECT_FALSE(TokenTable::bearer("Bearer a b"));
}

}  // namespace
}  // namespace ws
