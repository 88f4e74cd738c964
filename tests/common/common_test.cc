#include <gtest/gtest.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <set>
#include <string>

#include "common/check.h"
#include "common/sha256.h"
#include "common/status.h"
#include "common/text.h"

namespace hifi {
namespace {

TEST(Sha256Test, KnownVectors) {
  EXPECT_EQ(to_hex(sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(to_hex(sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(to_hex(sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256Test, StreamingEqualsOneShot) {
  const std::string data(100000, 'a');
  Sha256 h;
  for (std::size_t i = 0; i < data.size(); i += 777) {
    h.update(std::string_view(data).substr(i, 777));
  }
  EXPECT_EQ(h.finish(), sha256(data));
}

TEST(HexTest, ToHexAndIsSha256Hex) {
  const std::uint8_t bytes[] = {0x00, 0x0f, 0xa5, 0xff};
  EXPECT_EQ(to_hex(bytes, 4), "000fa5ff");
  EXPECT_EQ(to_hex(bytes, 0), "");
  EXPECT_TRUE(is_sha256_hex(to_hex(sha256("x"))));
  EXPECT_FALSE(is_sha256_hex(""));
  EXPECT_FALSE(is_sha256_hex(std::string(63, 'a')));
  EXPECT_FALSE(is_sha256_hex(std::string(65, 'a')));
  EXPECT_FALSE(is_sha256_hex(std::string(64, 'A')));  // lowercase only
  EXPECT_FALSE(is_sha256_hex(std::string(63, 'a') + "g"));
  EXPECT_TRUE(is_sha256_hex(std::string(64, '0')));
}

TEST(TextTest, WithoutControlCharsKeepsTextAndDropsEscapes) {
  EXPECT_EQ(without_control_chars("Björk \xe2\x80\x94 Jóga"), "Björk \xe2\x80\x94 Jóga");
  EXPECT_EQ(without_control_chars("\x1b[31mred\x1b[0m"), "[31mred[0m");
  EXPECT_EQ(without_control_chars("line\r\nforged\tlog"), "line  forged log");
  EXPECT_EQ(without_control_chars(std::string("a\0b\x07" "c\x7f", 6)), "abc");
  EXPECT_EQ(without_control_chars("8-bit \xc2\x9b" "31m CSI"), "8-bit 31m CSI");
  EXPECT_EQ(without_control_chars("\xc2\xa0nbsp \xc2\xa9"), "\xc2\xa0nbsp \xc2\xa9");  // not controls
}

TEST(TextTest, FoldForSearchIgnoresCase) {
  EXPECT_EQ(fold_for_search("BJÖRK"), fold_for_search("björk"));
  EXPECT_EQ(fold_for_search("Björk"), fold_for_search("björk"));
  EXPECT_EQ(fold_for_search("STRASSE"), fold_for_search("straße"));
  EXPECT_NE(fold_for_search("bjork"), fold_for_search("björk"));
}

TEST(TextTest, FoldForSearchNormalizesFirst) {
  // "o" + combining diaeresis folds like the precomposed "ö".
  EXPECT_EQ(fold_for_search("Bjo\xcc\x88rk"), fold_for_search("BJÖRK"));
  // NFKC: the "ﬁ" ligature matches "fi".
  EXPECT_EQ(fold_for_search("\xef\xac\x81ne"), fold_for_search("FINE"));
}

TEST(TextTest, FoldForSearchOfAsciiIsWhatIcuMakesOfIt) {
  // ASCII takes a shortcut past ICU; a non-ASCII letter after it sends the
  // same text through ICU, which must fold every ASCII character the same.
  for (int c = 0; c < 0x80; ++c) {
    const std::string ascii(1, static_cast<char>(c));
    EXPECT_EQ(fold_for_search(ascii) + "\xc3\xa9", fold_for_search(ascii + "\xc3\x89")) << "character " << c;
  }
  EXPECT_EQ(fold_for_search("The QUICK Brown Fox, 1984 (Remastered)!"), "the quick brown fox, 1984 (remastered)!");
  EXPECT_EQ(fold_for_search(""), "");
}

TEST(TextTest, FormDecode) {
  EXPECT_EQ(*form_decode(""), "");
  EXPECT_EQ(*form_decode("abc"), "abc");
  EXPECT_EQ(*form_decode("a+b"), "a b");
  EXPECT_EQ(*form_decode("%2B%2b+%20"), "++  ");
  EXPECT_EQ(*form_decode("%C3%A9t%C3%A9"), "\xc3\xa9t\xc3\xa9");
  EXPECT_EQ(*form_decode("%00x"), std::string("\0x", 2));
  EXPECT_EQ(*form_decode("100%25"), "100%");
  for (const char* bad : {"%", "%2", "%G0", "%0G", "a%2", "%%41"}) {
    EXPECT_FALSE(form_decode(bad).is_ok()) << bad;
  }
}

TEST(TextTest, NfcComposes) {
  EXPECT_EQ(nfc("e\xcc\x81"), "\xc3\xa9");
  EXPECT_EQ(nfc("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(nfc(""), "");
  // Invalid input is returned untouched rather than mangled.
  const std::string invalid = std::string("\xff") + "e\xcc\x81";
  EXPECT_EQ(nfc(invalid), invalid);
}

TEST(TextTest, ValidUtf8) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain ascii"));
  EXPECT_TRUE(is_valid_utf8("Bj\xc3\xb6rk"));
  EXPECT_TRUE(is_valid_utf8("\xe2\x82\xac"));          // U+20AC
  EXPECT_TRUE(is_valid_utf8("\xf0\x9f\x8e\xb5"));      // U+1F3B5
  EXPECT_TRUE(is_valid_utf8("\xf4\x8f\xbf\xbf"));      // U+10FFFF
  EXPECT_TRUE(is_valid_utf8("\xed\x9f\xbf"));          // U+D7FF, just below surrogates
  EXPECT_TRUE(is_valid_utf8(std::string("a\0b", 3)));  // NUL is valid UTF-8
}

TEST(TextTest, InvalidUtf8) {
  for (std::string_view bad : {
           "\xc0\xaf",              // overlong "/"
           "\xc1\xbf",              // overlong
           "\xe0\x80\xaf",          // overlong, 3 bytes
           "\xf0\x80\x80\xaf",      // overlong, 4 bytes
           "\xed\xa0\x80",          // U+D800, a surrogate
           "\xed\xbf\xbf",          // U+DFFF
           "\xf4\x90\x80\x80",      // above U+10FFFF
           "\xf8\x88\x80\x80\x80",  // five-byte form
           "\xff",                  // never valid
           "\x80",                  // lone continuation byte
           "\xc3",                  // truncated
           "\xe2\x82",              // truncated
           "\xf0\x9f\x8e",          // truncated
           "ok\xc3",                // truncated at the end
           "\xc3(",                 // bad continuation byte
       }) {
    EXPECT_FALSE(is_valid_utf8(bad))
        << to_hex(reinterpret_cast<const std::uint8_t*>(bad.data()), bad.size());
  }
}

TEST(StatusTest, OkAndErrors) {
  const Status ok;
  EXPECT_TRUE(ok.is_ok());
  EXPECT_TRUE(static_cast<bool>(ok));
  EXPECT_EQ(ok.code(), Code::kOk);
  EXPECT_EQ(ok.to_string(), "ok");
  EXPECT_TRUE(Status::ok().is_ok());

  const Status nf = not_found("track 7");
  EXPECT_FALSE(nf.is_ok());
  EXPECT_FALSE(static_cast<bool>(nf));
  EXPECT_EQ(nf.code(), Code::kNotFound);
  EXPECT_EQ(nf.message(), "track 7");
  EXPECT_EQ(nf.to_string(), "not-found: track 7");

  EXPECT_EQ(invalid_argument("x").code(), Code::kInvalidArgument);
  EXPECT_EQ(already_exists("x").code(), Code::kAlreadyExists);
  EXPECT_EQ(failed_precondition("x").code(), Code::kFailedPrecondition);
  EXPECT_EQ(unauthenticated("x").code(), Code::kUnauthenticated);
  EXPECT_EQ(permission_denied("x").code(), Code::kPermissionDenied);
  EXPECT_EQ(resource_exhausted("x").code(), Code::kResourceExhausted);
  EXPECT_EQ(unsupported("x").code(), Code::kUnsupported);
  EXPECT_EQ(io_error("x").code(), Code::kIoError);
  EXPECT_EQ(internal_error("x").code(), Code::kInternal);
}

TEST(StatusTest, CodeNamesAreDistinct) {
  std::set<std::string> names;
  for (int c = static_cast<int>(Code::kOk); c <= static_cast<int>(Code::kInternal); ++c) {
    names.insert(code_name(static_cast<Code>(c)));
  }
  EXPECT_EQ(names.size(), static_cast<std::size_t>(Code::kInternal) + 1);
  EXPECT_STREQ(code_name(Code::kResourceExhausted), "resource-exhausted");
}

TEST(ResultTest, ValueAndError) {
  Result<std::string> v = std::string("hello");
  ASSERT_TRUE(v.is_ok());
  EXPECT_TRUE(static_cast<bool>(v));
  EXPECT_TRUE(v.status().is_ok());
  EXPECT_EQ(*v, "hello");
  EXPECT_EQ(v->size(), 5u);
  std::string moved = std::move(v).value();
  EXPECT_EQ(moved, "hello");

  Result<int> e = Status(Code::kUnavailable, "down");
  EXPECT_FALSE(e.is_ok());
  EXPECT_EQ(e.status().code(), Code::kUnavailable);
  EXPECT_EQ(e.status().message(), "down");
}

// Death tests log to stderr, where gtest looks for the message.
void log_to_stderr() { spdlog::set_default_logger(spdlog::stderr_logger_st("check-test")); }

TEST(CheckDeathTest, PassingCheckDoesNothing) {
  int evaluated = 0;
  HIFI_CHECK(++evaluated == 1, "not reached");
  EXPECT_EQ(evaluated, 1);
}

TEST(CheckDeathTest, FailingCheckLogsWhereAndWhyThenAborts) {
  EXPECT_DEATH(
      {
        log_to_stderr();
        const std::string detail = "room 42";
        HIFI_CHECK(1 + 1 == 3, "arithmetic broke in " + detail);
      },
      "common_test.cc:[0-9]+: check failed: 1 \\+ 1 == 3: arithmetic broke in room 42");
}

TEST(CheckDeathTest, ValueOfAnErrorResultAborts) {
  EXPECT_DEATH(
      {
        log_to_stderr();
        Result<int> e = Status(Code::kNotFound, "gone");
        (void)e.value();
      },
      "value\\(\\) of a Result that holds an error");
}

TEST(CheckDeathTest, ResultFromOkStatusAborts) {
  EXPECT_DEATH(
      {
        log_to_stderr();
        Result<int> r = Status::ok();
        (void)r;
      },
      "must carry an error");
}

}  // namespace
}  // namespace hifi
