// AccountService against a real SQLite MetaStore and a ManualClock.
#include "library/accounts.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/random.h"
#include "store/meta_store.h"
#include "support/eventually.h"
#include "support/forwarding_meta_store.h"

namespace hifi {
namespace {

namespace fs = std::filesystem;

constexpr char kPassword[] = "correct horse";

std::string make_temp_dir(const std::string& name) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/hifi-" +
                        name + "-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
    return {};
  }
  return pattern;
}

// An admin as the caller of admin operations, for tests that only read.
const User kAnAdmin{"admin-id", "admin", "admin", false, 0};

class AccountsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    init_crypto();
    dir_ = make_temp_dir("accounts-test");
    ASSERT_FALSE(dir_.empty());
    auto store = open_sqlite_meta_store(dir_ + "/meta.db");
    ASSERT_TRUE(store.is_ok()) << store.status().to_string();
    store_ = std::move(store).value();
  }

  void TearDown() override {
    store_.reset();
    std::error_code ignored;
    if (!dir_.empty()) fs::remove_all(dir_, ignored);
  }

  std::unique_ptr<AccountService> service(AccountOptions options = {}) {
    return std::make_unique<AccountService>(*store_, clock_, options);
  }

  // Registers an account, failing the test if that does not work.
  User must_register(AccountService& accounts, const std::string& name,
                     const std::string& invite = {}) {
    auto user = accounts.register_user(name, kPassword, invite);
    EXPECT_TRUE(user.is_ok()) << name << ": " << user.status().to_string();
    return user.is_ok() ? *user : User{};
  }

  Result<Session> login(AccountService& accounts, const std::string& name,
                        const std::string& password, const std::string& address = "10.0.0.1",
                        std::int64_t* retry = nullptr) {
    std::int64_t ignored = 0;
    return accounts.login(name, password, address, retry ? retry : &ignored);
  }

  std::string dir_;
  ManualClock clock_;
  std::unique_ptr<MetaStore> store_;
};

// ---------------------------------------------------------------------------
// Validation

TEST(ValidateUsername, AcceptsLettersAndDigitsOfAnyScript) {
  for (const char* name : {"bob", "alice_1", "a-b.c", "Zoë", "名前です", "Ωμέγα", "Привет",
                           "مرحبا", "123", "a.b", "user_name-01"}) {
    EXPECT_TRUE(validate_username(name).is_ok()) << name;
  }
}

TEST(ValidateUsername, LengthIsCountedInCodePointsAfterNfc) {
  EXPECT_EQ(validate_username("ab").code(), Code::kInvalidArgument);
  EXPECT_EQ(validate_username("").code(), Code::kInvalidArgument);
  EXPECT_TRUE(validate_username("abc").is_ok());
  EXPECT_TRUE(validate_username(std::string(32, 'a')).is_ok());
  EXPECT_EQ(validate_username(std::string(33, 'a')).code(), Code::kInvalidArgument);
  // 32 two-byte characters (64 bytes) are still 32 characters.
  std::string umlauts;
  for (int i = 0; i < 32; ++i) umlauts += "ö";
  EXPECT_TRUE(validate_username(umlauts).is_ok());
  EXPECT_EQ(validate_username(umlauts + "ö").code(), Code::kInvalidArgument);
  // "Zoe" + combining diaeresis is 4 code points in NFD, 3 after NFC.
  EXPECT_TRUE(validate_username("Zoe\xcc\x88").is_ok());
  // Two CJK characters are two, however many bytes they take.
  EXPECT_EQ(validate_username("名前").code(), Code::kInvalidArgument);
  EXPECT_TRUE(validate_username("名前だ").is_ok());
}

TEST(ValidateUsername, RejectsSpacesPunctuationControlsAndSymbols) {
  for (const char* name : {
           "a b",                 // space
           "a/b",                 // slash
           "a\\b",                // backslash
           "bob!",                // punctuation
           "bo@b",                // at sign
           "bob\t",               // control
           "bob\n",               // newline
           "bo\xc2\xa0" "b",      // no-break space
           "bo\xe3\x80\x80" "b",  // ideographic space
           "bo\xe2\x80\x8b" "b",  // zero-width space
           "bo\xe2\x80\x8d" "b",  // zero-width joiner
           "bob\xe2\x98\x83",     // U+2603 snowman
           "bob\xf0\x9f\x98\x80", // U+1F600 emoji: not a letter or digit
           "\xf0\x9f\x8e\xb5\xf0\x9f\x8e\xb5\xf0\x9f\x8e\xb5",  // three U+1F3B5 notes
           "bo\xe1\x9a\x80" "b",  // U+1680 Ogham space mark
           "bo\xe3\x85\xa4" "b",  // U+3164 Hangul filler (invisible)
           "bob\xef\xbc\x81",     // U+FF01 fullwidth exclamation mark
           "bo\xef\xbb\xbf" "b",  // BOM
           "bo\xee\x80\x80" "b",  // private use
       }) {
    EXPECT_EQ(validate_username(name).code(), Code::kInvalidArgument) << name;
  }
}

TEST(ValidateUsername, RejectsInvalidUtf8) {
  EXPECT_EQ(validate_username("bo\xff" "b").code(), Code::kInvalidArgument);
  EXPECT_EQ(validate_username("bob\xc3").code(), Code::kInvalidArgument);
  EXPECT_EQ(validate_username("bo\xc0\xaf" "b").code(), Code::kInvalidArgument);  // overlong '/'
}

TEST(ValidatePassword, Rules) {
  EXPECT_EQ(validate_password("").code(), Code::kInvalidArgument);
  EXPECT_EQ(validate_password("1234567").code(), Code::kInvalidArgument);
  EXPECT_TRUE(validate_password("12345678").is_ok());
  EXPECT_TRUE(validate_password("pass word with spaces").is_ok());
  EXPECT_TRUE(validate_password("pässwörd").is_ok());
  EXPECT_TRUE(validate_password(std::string(1024, 'x')).is_ok());
  EXPECT_EQ(validate_password(std::string(1025, 'x')).code(), Code::kInvalidArgument);
  EXPECT_EQ(validate_password("password\xff").code(), Code::kInvalidArgument);
}

TEST(RegistrationMode, NamesRoundTrip) {
  for (auto mode : {RegistrationMode::kOpen, RegistrationMode::kInvite, RegistrationMode::kClosed}) {
    auto parsed = parse_registration_mode(registration_mode_name(mode));
    ASSERT_TRUE(parsed.is_ok());
    EXPECT_EQ(*parsed, mode);
  }
  EXPECT_EQ(parse_registration_mode("Open").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(parse_registration_mode("").status().code(), Code::kInvalidArgument);
}

// ---------------------------------------------------------------------------
// Registration

TEST_F(AccountsTest, FirstAccountIsAdminLaterOnesAreUsers) {
  auto accounts = service();
  auto first = must_register(*accounts, "alice");
  auto second = must_register(*accounts, "bob");
  EXPECT_TRUE(first.is_admin());
  EXPECT_EQ(second.role, "user");
  EXPECT_FALSE(second.disabled);
  EXPECT_EQ(first.created_at, clock_.now_ms());
  EXPECT_NE(first.id, second.id);

  auto listed = accounts->list_users(first);
  ASSERT_TRUE(listed.is_ok());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ(accounts->list_users(second).status().code(), Code::kPermissionDenied);
  auto fetched = accounts->get_user(second.id);
  ASSERT_TRUE(fetched.is_ok());
  EXPECT_EQ(fetched->username, "bob");
  EXPECT_EQ(accounts->get_user("nope").status().code(), Code::kNotFound);
}

TEST_F(AccountsTest, ConcurrentFirstRegistrationsMakeExactlyOneAdmin) {
  auto accounts = service();
  constexpr int kThreads = 8;
  std::vector<std::thread> threads;
  std::vector<Result<User>> results(kThreads, Result<User>(internal_error("not run")));
  std::atomic<int> ready{0};
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      ready.fetch_add(1);
      while (ready.load() < kThreads) std::this_thread::yield();
      results[i] = accounts->register_user("user" + std::to_string(i), kPassword, "");
    });
  }
  for (auto& t : threads) t.join();
  int admins = 0;
  for (auto& r : results) {
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    if (r->is_admin()) ++admins;
  }
  EXPECT_EQ(admins, 1);
  auto users = accounts->list_users(kAnAdmin);
  ASSERT_TRUE(users.is_ok());
  EXPECT_EQ(users->size(), static_cast<std::size_t>(kThreads));
  int stored_admins = 0;
  for (auto& u : *users) stored_admins += u.is_admin() ? 1 : 0;
  EXPECT_EQ(stored_admins, 1);
}

TEST_F(AccountsTest, NamesCollideAcrossCaseNormalizationAndCompatibilityForms) {
  auto accounts = service();
  must_register(*accounts, "Alice");
  EXPECT_EQ(accounts->register_user("alice", kPassword, "").status().code(), Code::kAlreadyExists);
  EXPECT_EQ(accounts->register_user("ALICE", kPassword, "").status().code(), Code::kAlreadyExists);

  // NFC "Zoë" and NFD "Zoe\u0308" are the same name; stored in NFC.
  auto zoe = must_register(*accounts, "Zo\xc3\xab");
  EXPECT_EQ(zoe.username, "Zo\xc3\xab");
  EXPECT_EQ(accounts->register_user("Zoe\xcc\x88", kPassword, "").status().code(),
            Code::kAlreadyExists);
  EXPECT_EQ(accounts->register_user("ZOË", kPassword, "").status().code(), Code::kAlreadyExists);

  // A decomposed name is stored normalized.
  auto rene = must_register(*accounts, "Rene\xcc\x81");
  EXPECT_EQ(rene.username, "Ren\xc3\xa9");

  // Compatibility forms: the "ﬁ" ligature folds to "fi".
  must_register(*accounts, "fish");
  EXPECT_EQ(accounts->register_user("\xef\xac\x81sh", kPassword, "").status().code(),
            Code::kAlreadyExists);
  // Fullwidth letters fold to ASCII.
  EXPECT_EQ(accounts->register_user("\xef\xbd\x86\xef\xbd\x89\xef\xbd\x93\xef\xbd\x88",
                                    kPassword, "")
                .status()
                .code(),
            Code::kAlreadyExists);
}

TEST_F(AccountsTest, ConcurrentRegistrationsOfOneNameMakeOneAccount) {
  auto accounts = service();
  must_register(*accounts, "admin");
  std::vector<Result<User>> results(4, Result<User>(internal_error("not run")));
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    // Same name in different case and normalization forms.
    const char* names[] = {"Zo\xc3\xab", "Zoe\xcc\x88", "zo\xc3\xab", "ZOË"};
    threads.emplace_back([&, i, name = std::string(names[i])] {
      results[i] = accounts->register_user(name, kPassword, "");
    });
  }
  for (auto& t : threads) t.join();
  int ok = 0;
  for (auto& r : results) {
    if (r.is_ok()) ++ok;
    else EXPECT_EQ(r.status().code(), Code::kAlreadyExists) << r.status().to_string();
  }
  EXPECT_EQ(ok, 1);
}

TEST_F(AccountsTest, RegistrationValidatesInput) {
  auto accounts = service();
  EXPECT_EQ(accounts->register_user("a b", kPassword, "").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(accounts->register_user("alice", "short", "").status().code(), Code::kInvalidArgument);
  // Nothing was created, so the next account is still the first.
  EXPECT_TRUE(must_register(*accounts, "alice").is_admin());
}

// ---------------------------------------------------------------------------
// Login, tokens, logout

TEST_F(AccountsTest, LoginSucceedsAndTheTokenAuthenticates) {
  auto accounts = service();
  auto alice = must_register(*accounts, "alice");
  auto session = login(*accounts, "alice", kPassword);
  ASSERT_TRUE(session.is_ok()) << session.status().to_string();
  EXPECT_EQ(session->user.id, alice.id);
  EXPECT_EQ(session->token.size(), 64u);  // 256 bits, hex
  EXPECT_EQ(session->expires_at, clock_.now_ms() + AccountOptions{}.token_ttl_ms);

  auto user = accounts->authenticate(session->token);
  ASSERT_TRUE(user.is_ok()) << user.status().to_string();
  EXPECT_EQ(user->id, alice.id);
  EXPECT_TRUE(user->is_admin());

  // Names are matched like at registration: case- and form-insensitively.
  EXPECT_TRUE(login(*accounts, "ALICE", kPassword).is_ok());

  // The store keeps only a hash of the token.
  auto tokens = store_->range("tokens/");
  ASSERT_TRUE(tokens.is_ok());
  ASSERT_EQ(tokens->kvs.size(), 2u);
  for (const auto& kv : tokens->kvs) {
    EXPECT_EQ(kv.key.find(session->token), std::string::npos);
    EXPECT_EQ(kv.value.find(session->token), std::string::npos);
  }
  // Two logins give two different tokens.
  auto again = login(*accounts, "alice", kPassword);
  ASSERT_TRUE(again.is_ok());
  EXPECT_NE(again->token, session->token);
}

TEST_F(AccountsTest, UnknownUserAndWrongPasswordLookTheSame) {
  auto accounts = service();
  must_register(*accounts, "alice");
  auto wrong = login(*accounts, "alice", "wrong password");
  auto unknown = login(*accounts, "mallory", kPassword);
  ASSERT_FALSE(wrong.is_ok());
  ASSERT_FALSE(unknown.is_ok());
  EXPECT_EQ(wrong.status().code(), Code::kUnauthenticated);
  EXPECT_EQ(unknown.status().code(), Code::kUnauthenticated);
  EXPECT_EQ(wrong.status().message(), unknown.status().message());
  EXPECT_EQ(login(*accounts, "alice", "").status().code(), Code::kUnauthenticated);
}

TEST_F(AccountsTest, AuthenticateRejectsGarbage) {
  auto accounts = service();
  EXPECT_EQ(accounts->authenticate("").status().code(), Code::kUnauthenticated);
  EXPECT_EQ(accounts->authenticate(std::string(300, 'a')).status().code(), Code::kUnauthenticated);
  EXPECT_EQ(accounts->authenticate(random_hex(32)).status().code(), Code::kUnauthenticated);
}

TEST_F(AccountsTest, TokensExpire) {
  AccountOptions options;
  options.token_ttl_ms = 60'000;
  auto accounts = service(options);
  must_register(*accounts, "alice");
  auto session = login(*accounts, "alice", kPassword);
  ASSERT_TRUE(session.is_ok());
  EXPECT_EQ(session->expires_at, clock_.now_ms() + 60'000);

  clock_.advance_ms(59'999);
  EXPECT_TRUE(accounts->authenticate(session->token).is_ok());
  clock_.advance_ms(1);
  EXPECT_EQ(accounts->authenticate(session->token).status().code(), Code::kUnauthenticated);
  // The expired token was deleted, so it stays invalid even if the clock goes back.
  clock_.advance_ms(-10'000);
  EXPECT_EQ(accounts->authenticate(session->token).status().code(), Code::kUnauthenticated);
  auto tokens = store_->range("tokens/");
  ASSERT_TRUE(tokens.is_ok());
  EXPECT_TRUE(tokens->kvs.empty());
}

TEST_F(AccountsTest, LogoutRevokesOnlyThatToken) {
  auto accounts = service();
  must_register(*accounts, "alice");
  auto a = login(*accounts, "alice", kPassword);
  auto b = login(*accounts, "alice", kPassword);
  ASSERT_TRUE(a.is_ok());
  ASSERT_TRUE(b.is_ok());
  EXPECT_TRUE(accounts->logout(a->token).is_ok());
  EXPECT_EQ(accounts->authenticate(a->token).status().code(), Code::kUnauthenticated);
  EXPECT_TRUE(accounts->authenticate(b->token).is_ok());
  // Logging out twice, or with an unknown token, is harmless.
  EXPECT_TRUE(accounts->logout(a->token).is_ok());
  EXPECT_TRUE(accounts->logout("unknown").is_ok());
}

TEST_F(AccountsTest, ChangePassword) {
  auto accounts = service();
  auto alice = must_register(*accounts, "alice");
  EXPECT_EQ(accounts->change_password(alice.id, "wrong password", "new password").code(),
            Code::kPermissionDenied);
  EXPECT_EQ(accounts->change_password(alice.id, kPassword, "short").code(),
            Code::kInvalidArgument);
  EXPECT_EQ(accounts->change_password("no-such-user", kPassword, "new password").code(),
            Code::kNotFound);
  ASSERT_TRUE(accounts->change_password(alice.id, kPassword, "new password").is_ok());

  EXPECT_EQ(login(*accounts, "alice", kPassword).status().code(), Code::kUnauthenticated);
  auto session = login(*accounts, "alice", "new password");
  ASSERT_TRUE(session.is_ok()) << session.status().to_string();
  // The rest of the record is unchanged.
  EXPECT_TRUE(session->user.is_admin());
  EXPECT_EQ(session->user.username, "alice");
  EXPECT_EQ(session->user.created_at, alice.created_at);
}

TEST_F(AccountsTest, DisablingRevokesTokensAndBlocksLogin) {
  auto accounts = service();
  auto admin = must_register(*accounts, "admin");
  auto bob = must_register(*accounts, "bob");
  auto admin_session = login(*accounts, "admin", kPassword);
  auto s1 = login(*accounts, "bob", kPassword);
  auto s2 = login(*accounts, "bob", kPassword);
  ASSERT_TRUE(admin_session.is_ok());
  ASSERT_TRUE(s1.is_ok());
  ASSERT_TRUE(s2.is_ok());

  auto disabled = accounts->set_disabled(admin, bob.id, true);
  ASSERT_TRUE(disabled.is_ok()) << disabled.status().to_string();
  EXPECT_TRUE(disabled->disabled);
  EXPECT_EQ(accounts->authenticate(s1->token).status().code(), Code::kUnauthenticated);
  EXPECT_EQ(accounts->authenticate(s2->token).status().code(), Code::kUnauthenticated);
  // Other users' tokens are untouched.
  EXPECT_TRUE(accounts->authenticate(admin_session->token).is_ok());

  // A disabled account gets the same answer as a wrong password.
  auto blocked = login(*accounts, "bob", kPassword);
  auto wrong = login(*accounts, "admin", "wrong password");
  EXPECT_EQ(blocked.status().code(), Code::kUnauthenticated);
  EXPECT_EQ(blocked.status().message(), wrong.status().message());
  EXPECT_TRUE(accounts->get_user(bob.id)->disabled);

  ASSERT_TRUE(accounts->set_disabled(admin, bob.id, false).is_ok());
  auto back = login(*accounts, "bob", kPassword);
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_TRUE(accounts->authenticate(back->token).is_ok());
  // Revoked tokens stay revoked after re-enabling.
  EXPECT_EQ(accounts->authenticate(s1->token).status().code(), Code::kUnauthenticated);

  EXPECT_EQ(accounts->set_disabled(admin, "no-such-user", true).status().code(), Code::kNotFound);
}

TEST_F(AccountsTest, OnlyAdminsDisableAccountsAndNeverTheirOwn) {
  auto accounts = service();
  auto admin = must_register(*accounts, "admin");
  auto bob = must_register(*accounts, "bob");
  EXPECT_EQ(accounts->set_disabled(bob, admin.id, true).status().code(), Code::kPermissionDenied);
  EXPECT_EQ(accounts->set_disabled(bob, bob.id, true).status().code(), Code::kPermissionDenied);
  EXPECT_EQ(accounts->set_disabled(admin, admin.id, true).status().code(), Code::kFailedPrecondition);
  EXPECT_FALSE(accounts->get_user(admin.id)->disabled);
  EXPECT_FALSE(accounts->get_user(bob.id)->disabled);
  // Re-enabling oneself is harmless.
  EXPECT_TRUE(accounts->set_disabled(admin, admin.id, false).is_ok());
}

TEST_F(AccountsTest, AdminCreatesAccountsWithARoleInEveryRegistrationMode) {
  AccountOptions closed;
  closed.registration = RegistrationMode::kClosed;
  auto accounts = service(closed);
  auto admin = must_register(*accounts, "admin");
  auto carol = accounts->create_user(admin, "carol", kPassword, "user");
  ASSERT_TRUE(carol.is_ok()) << carol.status().to_string();
  EXPECT_EQ(carol->role, "user");
  EXPECT_FALSE(carol->disabled);
  auto dave = accounts->create_user(admin, "dave", kPassword, "admin");
  ASSERT_TRUE(dave.is_ok()) << dave.status().to_string();
  EXPECT_TRUE(dave->is_admin());
  auto session = login(*accounts, "carol", kPassword);
  ASSERT_TRUE(session.is_ok()) << session.status().to_string();
  EXPECT_EQ(session->user.id, carol->id);

  EXPECT_EQ(accounts->create_user(*carol, "erin", kPassword, "user").status().code(), Code::kPermissionDenied);
  EXPECT_EQ(accounts->create_user(admin, "CAROL", kPassword, "user").status().code(), Code::kAlreadyExists);
  EXPECT_EQ(accounts->create_user(admin, "erin", "short", "user").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(accounts->create_user(admin, "no spaces", kPassword, "user").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(accounts->create_user(admin, "erin", kPassword, "root").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(accounts->account_state_by_name("erin").status().code(), Code::kNotFound);
}

TEST_F(AccountsTest, SettingAPasswordChangesTheVersionAndEndsEverySession) {
  auto accounts = service();
  auto admin = must_register(*accounts, "admin");
  auto bob = must_register(*accounts, "bob");
  auto carol = must_register(*accounts, "carol");
  auto bob_session = login(*accounts, "bob", kPassword);
  auto admin_session = login(*accounts, "admin", kPassword);
  ASSERT_TRUE(bob_session.is_ok());
  ASSERT_TRUE(admin_session.is_ok());
  const auto before = accounts->account_state(bob.id)->password_version;

  ASSERT_TRUE(accounts->set_password(admin, bob.id, "a new password").is_ok());
  EXPECT_NE(accounts->account_state(bob.id)->password_version, before);
  EXPECT_EQ(accounts->authenticate(bob_session->token).status().code(), Code::kUnauthenticated);
  EXPECT_TRUE(accounts->authenticate(admin_session->token).is_ok());
  EXPECT_EQ(login(*accounts, "bob", kPassword).status().code(), Code::kUnauthenticated);
  EXPECT_TRUE(login(*accounts, "bob", "a new password").is_ok());

  // Users set their own password; nobody else's.
  EXPECT_TRUE(accounts->set_password(carol, carol.id, "carol's new one").is_ok());
  EXPECT_TRUE(login(*accounts, "carol", "carol's new one").is_ok());
  EXPECT_EQ(accounts->set_password(carol, bob.id, "hijacked!!").code(), Code::kPermissionDenied);
  EXPECT_TRUE(login(*accounts, "bob", "a new password").is_ok());
  EXPECT_EQ(accounts->set_password(admin, bob.id, "short").code(), Code::kInvalidArgument);
  EXPECT_EQ(accounts->set_password(admin, "no-such-user", "long enough").code(), Code::kNotFound);
}

TEST_F(AccountsTest, AdminsChangeRolesButNeverDemoteThemselves) {
  auto accounts = service();
  auto admin = must_register(*accounts, "admin");
  auto bob = must_register(*accounts, "bob");
  auto promoted = accounts->set_role(admin, bob.id, "admin");
  ASSERT_TRUE(promoted.is_ok()) << promoted.status().to_string();
  EXPECT_TRUE(promoted->is_admin());
  EXPECT_TRUE(accounts->get_user(bob.id)->is_admin());
  EXPECT_EQ(accounts->get_user(bob.id)->username, "bob");
  EXPECT_TRUE(login(*accounts, "bob", kPassword).is_ok());  // the password is untouched
  ASSERT_TRUE(accounts->set_role(*promoted, admin.id, "user").is_ok());
  EXPECT_FALSE(accounts->get_user(admin.id)->is_admin());

  const auto demoted = *accounts->get_user(admin.id);  // the caller as the next request reads it
  EXPECT_EQ(accounts->set_role(demoted, bob.id, "admin").status().code(), Code::kPermissionDenied);
  EXPECT_EQ(accounts->set_role(*promoted, bob.id, "user").status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(accounts->set_role(*promoted, admin.id, "owner").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(accounts->set_role(*promoted, "no-such-user", "user").status().code(), Code::kNotFound);
}

TEST_F(AccountsTest, DeletingAnAccountEndsItAndFreesItsName) {
  auto accounts = service();
  auto admin = must_register(*accounts, "admin");
  auto bob = must_register(*accounts, "bob");
  auto bob_session = login(*accounts, "bob", kPassword);
  ASSERT_TRUE(bob_session.is_ok());

  EXPECT_EQ(accounts->delete_user(bob, admin.id).code(), Code::kPermissionDenied);
  EXPECT_EQ(accounts->delete_user(admin, admin.id).code(), Code::kFailedPrecondition);
  ASSERT_TRUE(accounts->delete_user(admin, bob.id).is_ok());
  EXPECT_EQ(accounts->delete_user(admin, bob.id).code(), Code::kNotFound);
  EXPECT_EQ(accounts->authenticate(bob_session->token).status().code(), Code::kUnauthenticated);
  EXPECT_EQ(login(*accounts, "bob", kPassword).status().code(), Code::kUnauthenticated);
  EXPECT_EQ(accounts->account_state(bob.id).status().code(), Code::kNotFound);
  EXPECT_EQ(accounts->list_users(admin)->size(), 1u);

  // The name is free again, for a new account with a new id.
  auto again = accounts->register_user("bob", kPassword, "");
  ASSERT_TRUE(again.is_ok()) << again.status().to_string();
  EXPECT_NE(again->id, bob.id);
  EXPECT_EQ(again->role, "user");
}

TEST_F(AccountsTest, DeletingTheFirstAdminMakesNoNewBootstrapAdmin) {
  auto accounts = service();
  auto first = must_register(*accounts, "first");
  auto second = must_register(*accounts, "second");
  ASSERT_TRUE(accounts->set_role(first, second.id, "admin").is_ok());
  ASSERT_TRUE(accounts->delete_user(*accounts->get_user(second.id), first.id).is_ok());
  EXPECT_EQ(must_register(*accounts, "third").role, "user");
}

// ---------------------------------------------------------------------------
// Registration modes

TEST_F(AccountsTest, InviteModeRequiresAValidSingleUseCode) {
  // Invite mode has no way to create the first account, so make the admin
  // while registration is open, as an operator would.
  auto admin = must_register(*service(), "admin");
  AccountOptions options;
  options.registration = RegistrationMode::kInvite;
  auto accounts = service(options);
  EXPECT_EQ(accounts->registration_mode(), RegistrationMode::kInvite);

  EXPECT_EQ(accounts->register_user("bob", kPassword, "").status().code(),
            Code::kPermissionDenied);
  EXPECT_EQ(accounts->register_user("bob", kPassword, random_hex(16)).status().code(),
            Code::kPermissionDenied);

  auto invite = accounts->create_invite(admin);
  ASSERT_TRUE(invite.is_ok()) << invite.status().to_string();
  EXPECT_EQ(invite->code.size(), 32u);  // 128 bits, hex
  EXPECT_EQ(invite->expires_at, clock_.now_ms() + AccountOptions{}.invite_ttl_ms);

  // A registration that fails for another reason does not use the code up.
  EXPECT_EQ(accounts->register_user("admin", kPassword, invite->code).status().code(),
            Code::kAlreadyExists);

  auto bob = accounts->register_user("bob", kPassword, invite->code);
  ASSERT_TRUE(bob.is_ok()) << bob.status().to_string();
  EXPECT_EQ(bob->role, "user");
  auto carol = accounts->register_user("carol", kPassword, invite->code);
  EXPECT_EQ(carol.status().code(), Code::kPermissionDenied);

  // Only admins create invites.
  EXPECT_EQ(accounts->create_invite(*bob).status().code(), Code::kPermissionDenied);
}

TEST_F(AccountsTest, OneInviteCodeUsedConcurrentlyMakesOneAccount) {
  auto admin = must_register(*service(), "admin");
  AccountOptions options;
  options.registration = RegistrationMode::kInvite;
  auto accounts = service(options);
  auto invite = accounts->create_invite(admin);
  ASSERT_TRUE(invite.is_ok());

  constexpr int kThreads = 2;
  std::vector<Result<User>> results(kThreads, Result<User>(internal_error("not run")));
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      ready.fetch_add(1);
      while (ready.load() < kThreads) std::this_thread::yield();
      results[i] = accounts->register_user("racer" + std::to_string(i), kPassword, invite->code);
    });
  }
  for (auto& t : threads) t.join();
  int ok = 0;
  for (auto& r : results) {
    if (r.is_ok()) ++ok;
    else EXPECT_EQ(r.status().code(), Code::kPermissionDenied) << r.status().to_string();
  }
  EXPECT_EQ(ok, 1);
  auto users = accounts->list_users(admin);
  ASSERT_TRUE(users.is_ok());
  EXPECT_EQ(users->size(), 2u);
  auto invites = store_->range("invites/");
  ASSERT_TRUE(invites.is_ok());
  EXPECT_TRUE(invites->kvs.empty());
}

TEST_F(AccountsTest, ExpiredInviteIsRejected) {
  auto admin = must_register(*service(), "admin");
  AccountOptions options;
  options.registration = RegistrationMode::kInvite;
  options.invite_ttl_ms = 60'000;
  auto accounts = service(options);
  auto invite = accounts->create_invite(admin);
  ASSERT_TRUE(invite.is_ok());
  clock_.advance_ms(60'001);
  auto r = accounts->register_user("bob", kPassword, invite->code);
  EXPECT_EQ(r.status().code(), Code::kPermissionDenied);

  auto fresh = accounts->create_invite(admin);
  ASSERT_TRUE(fresh.is_ok());
  clock_.advance_ms(59'000);
  EXPECT_TRUE(accounts->register_user("bob", kPassword, fresh->code).is_ok());
}

TEST_F(AccountsTest, ClosedModeRejectsEveryRegistrationButAllowsLogin) {
  must_register(*service(), "admin");
  AccountOptions options;
  options.registration = RegistrationMode::kClosed;
  auto accounts = service(options);
  EXPECT_EQ(accounts->register_user("bob", kPassword, "").status().code(),
            Code::kPermissionDenied);
  EXPECT_EQ(accounts->register_user("bob", kPassword, random_hex(16)).status().code(),
            Code::kPermissionDenied);
  EXPECT_TRUE(login(*accounts, "admin", kPassword).is_ok());
  auto users = accounts->list_users(kAnAdmin);
  ASSERT_TRUE(users.is_ok());
  EXPECT_EQ(users->size(), 1u);
}

// ---------------------------------------------------------------------------
// Rate limiting

TEST_F(AccountsTest, FailedLoginsAreLimitedPerAccount) {
  AccountOptions options;
  options.max_failures_per_account = 3;
  options.max_attempts_per_address = 1000;
  options.rate_window_ms = 60'000;
  auto accounts = service(options);
  must_register(*accounts, "alice");
  must_register(*accounts, "bob");

  // Failures from different addresses all count against the account.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(login(*accounts, "alice", "wrong password", "10.0.0." + std::to_string(i))
                  .status()
                  .code(),
              Code::kUnauthenticated);
    clock_.advance_ms(1000);
  }
  // Now even the right password is refused, under any spelling of the name.
  std::int64_t retry = -1;
  auto limited = login(*accounts, "alice", kPassword, "10.0.0.9", &retry);
  EXPECT_EQ(limited.status().code(), Code::kResourceExhausted);
  // The first failure was 3 s ago; it leaves the window in 57 s.
  EXPECT_EQ(retry, 57'000);
  EXPECT_EQ(login(*accounts, "ALICE", kPassword, "10.0.0.9").status().code(),
            Code::kResourceExhausted);
  // Other accounts are not affected.
  EXPECT_TRUE(login(*accounts, "bob", kPassword, "10.0.0.9").is_ok());

  // Once the oldest failure leaves the window, one more attempt is allowed.
  clock_.advance_ms(57'000);
  auto after = login(*accounts, "alice", kPassword, "10.0.0.9");
  EXPECT_TRUE(after.is_ok()) << after.status().to_string();
}

TEST_F(AccountsTest, SuccessfulLoginResetsAccountFailures) {
  AccountOptions options;
  options.max_failures_per_account = 3;
  options.max_attempts_per_address = 1000;
  options.rate_window_ms = 60'000;
  auto accounts = service(options);
  must_register(*accounts, "alice");
  EXPECT_FALSE(login(*accounts, "alice", "wrong password").is_ok());
  EXPECT_FALSE(login(*accounts, "alice", "wrong password").is_ok());
  EXPECT_TRUE(login(*accounts, "alice", kPassword).is_ok());
  EXPECT_FALSE(login(*accounts, "alice", "wrong password").is_ok());
  EXPECT_FALSE(login(*accounts, "alice", "wrong password").is_ok());
  // Two failures since the reset: still allowed.
  EXPECT_TRUE(login(*accounts, "alice", kPassword).is_ok());
}

TEST_F(AccountsTest, UnknownAccountsAreLimitedToo) {
  AccountOptions options;
  options.max_failures_per_account = 2;
  options.max_attempts_per_address = 1000;
  options.rate_window_ms = 60'000;
  auto accounts = service(options);
  EXPECT_EQ(login(*accounts, "ghost", kPassword).status().code(), Code::kUnauthenticated);
  EXPECT_EQ(login(*accounts, "ghost", kPassword).status().code(), Code::kUnauthenticated);
  // Limited exactly like an existing account, so limits do not reveal names.
  EXPECT_EQ(login(*accounts, "ghost", kPassword).status().code(), Code::kResourceExhausted);
}

TEST_F(AccountsTest, AttemptsAreLimitedPerAddress) {
  AccountOptions options;
  options.max_failures_per_account = 1000;
  options.max_attempts_per_address = 3;
  options.rate_window_ms = 60'000;
  auto accounts = service(options);
  must_register(*accounts, "alice");

  // Every attempt counts, successful or not.
  EXPECT_TRUE(login(*accounts, "alice", kPassword, "192.0.2.1").is_ok());
  EXPECT_FALSE(login(*accounts, "alice", "wrong password", "192.0.2.1").is_ok());
  clock_.advance_ms(10'000);
  EXPECT_FALSE(login(*accounts, "nobody", kPassword, "192.0.2.1").is_ok());

  std::int64_t retry = -1;
  auto limited = login(*accounts, "alice", kPassword, "192.0.2.1", &retry);
  EXPECT_EQ(limited.status().code(), Code::kResourceExhausted);
  EXPECT_EQ(retry, 50'000);
  // Refused attempts do not extend the block.
  clock_.advance_ms(49'999);
  EXPECT_EQ(login(*accounts, "alice", kPassword, "192.0.2.1", &retry).status().code(),
            Code::kResourceExhausted);
  EXPECT_EQ(retry, 1);
  // Another address is not affected.
  EXPECT_TRUE(login(*accounts, "alice", kPassword, "192.0.2.2").is_ok());

  clock_.advance_ms(1);
  EXPECT_TRUE(login(*accounts, "alice", kPassword, "192.0.2.1").is_ok());
}

}  // namespace
}  // namespace hifi

namespace hifi {
namespace {

// A login whose password check passed just before a password change must not
// leave a session behind: the change revoked every session, this one too.
TEST_F(AccountsTest, ALoginRacingAPasswordChangeLeavesNoSession) {
  AccountOptions options;
  AccountService* racing = nullptr;
  std::string alice_id;
  options.before_session_write = [&] {
    if (racing && !alice_id.empty()) {
      ASSERT_TRUE(racing->change_password(alice_id, "correct horse", "a new password").is_ok());
    }
  };
  auto svc = service(options);
  auto alice = svc->register_user("alice", "correct horse", "");
  ASSERT_TRUE(alice.is_ok());
  alice_id = alice->id;
  racing = svc.get();
  std::int64_t retry = 0;
  auto session = svc->login("alice", "correct horse", "10.0.0.1", &retry);
  EXPECT_EQ(session.status().code(), Code::kUnauthenticated) << session.status().to_string();
  // No token of the old password outlives the change; the new one works.
  racing = nullptr;
  auto tokens = store_->range("tokens/");
  ASSERT_TRUE(tokens.is_ok());
  EXPECT_TRUE(tokens->kvs.empty());
  EXPECT_TRUE(svc->login("alice", "a new password", "10.0.0.1", &retry).is_ok());
}

}  // namespace
}  // namespace hifi

namespace hifi {
namespace {

TEST_F(AccountsTest, TheSweepDeletesExpiredTokensAndInvitesOnly) {
  AccountOptions options;
  options.token_ttl_ms = 1000 * 60;
  options.invite_ttl_ms = 1000 * 60 * 10;
  auto accounts = service(options);
  auto admin = accounts->register_user("alice", kPassword, "");
  ASSERT_TRUE(admin.is_ok());
  std::int64_t retry = 0;
  auto old_session = accounts->login("alice", kPassword, "10.0.0.1", &retry);
  ASSERT_TRUE(old_session.is_ok());
  auto old_invite = accounts->create_invite(*admin);
  ASSERT_TRUE(old_invite.is_ok());
  clock_.advance_ms(1000 * 60 * 5);
  auto fresh_session = accounts->login("alice", kPassword, "10.0.0.1", &retry);
  ASSERT_TRUE(fresh_session.is_ok());
  clock_.advance_ms(1000 * 60 * 6);  // the old session expired 10 minutes ago, the old invite just now
  auto fresh_invite = accounts->create_invite(*admin);
  ASSERT_TRUE(fresh_invite.is_ok());

  auto report = accounts->sweep_expired();
  ASSERT_TRUE(report.is_ok()) << report.status().to_string();
  EXPECT_EQ(report->tokens, 2);  // the first session and the second, 6 minutes old
  EXPECT_EQ(report->invites, 1);
  auto tokens = store_->range("tokens/");
  ASSERT_TRUE(tokens.is_ok());
  EXPECT_TRUE(tokens->kvs.empty());
  auto index = store_->range("user-tokens/");
  ASSERT_TRUE(index.is_ok());
  EXPECT_TRUE(index->kvs.empty()) << "index entries go with their tokens";
  auto invites = store_->range("invites/");
  ASSERT_TRUE(invites.is_ok());
  EXPECT_EQ(invites->kvs.size(), 1u);
  auto again = accounts->sweep_expired();
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(again->tokens, 0);
  EXPECT_EQ(again->invites, 0);
  // A session made after the sweep works.
  auto now = accounts->login("alice", kPassword, "10.0.0.1", &retry);
  ASSERT_TRUE(now.is_ok());
  EXPECT_TRUE(accounts->authenticate(now->token).is_ok());
}

// Counts the reads of session tokens that reach the store.
class TokenReadCounter final : public testing::ForwardingMetaStore {
 public:
  using ForwardingMetaStore::ForwardingMetaStore;
  Result<KeyValue> get(const std::string& key) override {
    if (key.starts_with("tokens/")) token_reads.fetch_add(1);
    return inner_.get(key);
  }
  std::atomic<int> token_reads{0};
};

// Two nodes: `here` checks tokens through the counter, `there` changes the
// accounts on the same store, as another node of a cluster would.
class SessionCacheTest : public AccountsTest {
 protected:
  void SetUp() override {
    AccountsTest::SetUp();
    counter_ = std::make_unique<TokenReadCounter>(*store_);
    here_ = std::make_unique<AccountService>(*counter_, clock_, AccountOptions{});
    there_ = service();
    ASSERT_TRUE(here_->start([](const AccessEnded&) {}));
    ASSERT_TRUE(there_->start([](const AccessEnded&) {}));
    admin_ = must_register(*there_, "admin");
    alice_ = must_register(*there_, "alice");
  }
  void TearDown() override {
    here_.reset();
    there_.reset();
    counter_.reset();
    AccountsTest::TearDown();
  }
  // A session of alice that `here` has checked once, from the store.
  Session checked_session() {
    auto session = login(*there_, "alice", kPassword);
    EXPECT_TRUE(session.is_ok());
    EXPECT_TRUE(eventually_ok(session->token));
    return *session;
  }
  // The first checks may come before this node's view has the new session;
  // they read the store and are right all the same.
  bool eventually_ok(const std::string& token) {
    bool refused = false;
    const bool from_memory = testing::eventually([&] {
      if (!here_->authenticate(token).is_ok()) return refused = true;
      const int before = counter_->token_reads.load();
      return here_->authenticate(token).is_ok() && counter_->token_reads.load() == before;
    });
    return from_memory && !refused;
  }
  // Until the token is refused (the view has the change), up to 10 s.
  bool eventually_refused(const std::string& token) {
    return testing::eventually(
        [&] { return here_->authenticate(token).status().code() == Code::kUnauthenticated; });
  }

  std::unique_ptr<TokenReadCounter> counter_;
  std::unique_ptr<AccountService> here_, there_;
  User admin_, alice_;
};

TEST_F(SessionCacheTest, ASessionCheckedOnceIsCheckedAgainWithoutAStoreRead) {
  const auto session = checked_session();
  const int before = counter_->token_reads.load();
  for (int i = 0; i < 100; ++i) {
    auto user = here_->authenticate(session.token);
    ASSERT_TRUE(user.is_ok());
    EXPECT_EQ(user->username, "alice");
  }
  EXPECT_EQ(counter_->token_reads.load(), before);
}

TEST_F(SessionCacheTest, ALogoutOnAnotherNodeEndsTheSessionHere) {
  const auto session = checked_session();
  ASSERT_TRUE(there_->logout(session.token));
  EXPECT_TRUE(eventually_refused(session.token));
}

TEST_F(SessionCacheTest, ALogoutThroughThisNodeEndsTheSessionAtOnce) {
  const auto session = checked_session();
  ASSERT_TRUE(here_->logout(session.token));
  EXPECT_EQ(here_->authenticate(session.token).status().code(), Code::kUnauthenticated);
}

TEST_F(SessionCacheTest, DisablingTheAccountElsewhereEndsTheSessionHere) {
  const auto session = checked_session();
  ASSERT_TRUE(there_->set_disabled(admin_, alice_.id, true));
  EXPECT_TRUE(eventually_refused(session.token));
}

TEST_F(SessionCacheTest, AnAccountChangeElsewhereIsSeenHere) {
  const auto session = checked_session();
  ASSERT_TRUE(there_->set_role(admin_, alice_.id, "admin"));
  EXPECT_TRUE(testing::eventually([&] {
    auto user = here_->authenticate(session.token);
    EXPECT_TRUE(user.is_ok());
    return user.is_ok() && user->role == "admin";
  }));
}

TEST_F(SessionCacheTest, AnExpiredSessionIsRefusedWithoutWaitingForTheView) {
  const auto session = checked_session();
  clock_.advance_ms(AccountOptions{}.token_ttl_ms + 1);
  EXPECT_EQ(here_->authenticate(session.token).status().code(), Code::kUnauthenticated);
}

TEST_F(SessionCacheTest, SigningOutEverywhereElsewhereEndsTheSessionHere) {
  const auto session = checked_session();
  auto keep = login(*there_, "alice", kPassword);
  ASSERT_TRUE(keep.is_ok());
  ASSERT_TRUE(there_->revoke_other_sessions(alice_.id, keep->token));
  EXPECT_TRUE(eventually_refused(session.token));
  EXPECT_TRUE(here_->authenticate(keep->token).is_ok());
}

}  // namespace
}  // namespace hifi
