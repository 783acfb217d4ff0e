#include "rules/classification.h"

#include <gtest/gtest.h>

namespace ws {
namespace {

TEST(Classification, DefaultsHoldSuricatasTable) {
  ClassificationTable t = ClassificationTable::suricata_defaults();
  EXPECT_EQ(t.entries().size(), 43u);
  const Classification* c = t.find("trojan-activity");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->description, "A Network Trojan was detected");
  EXPECT_EQ(c->priority, 1);
  c = t.find("tcp-connection");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->priority, 4);
  c = t.find("bad-unknown");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->description, "Potentially Bad Traffic");
  EXPECT_EQ(c->priority, 2);
  EXPECT_EQ(t.find("no-such-class"), nullptr);
}

TEST(Classification, ParsesFileFormat) {
  ClassificationTable t;
  auto errors = parse_classification_text(
      "#\n# config classification:shortname,short description,priority\n\n"
      "config classification: not-suspicious,Not Suspicious Traffic,3\n"
      "config classification: bad-unknown,Potentially Bad Traffic, 2\n"
      "config classification: odd,Has, a comma,1\n"
      "config classification: broken\n"
      "config classification: badprio,Something,0\n"
      "classification: x,y,1\n"
      "config classification: not-suspicious,Replaced,4\r\n",
      "classification.config", t);
  ASSERT_EQ(t.entries().size(), 3u);
  EXPECT_EQ(t.find("bad-unknown")->priority, 2);
  EXPECT_EQ(t.find("odd")->description, "Has, a comma");
  EXPECT_EQ(t.find("not-suspicious")->description, "Replaced");
  EXPECT_EQ(t.find("not-suspicious")->priority, 4);
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0].str(), "classification.config:7: expected 'name,description,priority'");
  EXPECT_EQ(errors[1].str(), "classification.config:8: priority must be a number from 1 to 255, got '0'");
  EXPECT_EQ(errors[2].str(),
            "classification.config:9: expected 'config classification: name,description,priority'");
}

TEST(Classification, MissingFile) {
  ClassificationTable t;
  auto errors = parse_classification_file("/nonexistent/classification.config", t);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].str(), "/nonexistent/classification.config:0: cannot open the classification file");
}

}  // namespace
}  // namespace ws
