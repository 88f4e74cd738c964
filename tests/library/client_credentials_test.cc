// ClientCredentials against a real SQLite MetaStore and a ManualClock: app
// passwords and API keys, the password, token and key checks, and what ends
// them.
#include "library/client_credentials.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <filesystem>
#include <memory>

#include "common/random.h"
#include "common/sha256.h"
#include "store/meta_store.h"

namespace hifi {
namespace {

namespace fs = std::filesystem;

constexpr char kPassword[] = "correct horse";
constexpr char kAddress[] = "10.0.0.1";
const std::string kSecret(32, 's');

std::string md5_hex(const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest, &size, EVP_md5(), nullptr);
  return to_hex(digest, size);
}

class ClientCredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    init_crypto();
    dir_ = fs::temp_directory_path() / ("hifi-credentials-test-" + random_hex(6));
    fs::create_directories(dir_);
    auto store = open_sqlite_meta_store((dir_ / "meta.db").string());
    ASSERT_TRUE(store.is_ok()) << store.status().to_string();
    store_ = std::move(store).value();
    make(AccountOptions{});
    alice_ = *accounts_->register_user("alice", kPassword, "");
    bob_ = *accounts_->register_user("bob", kPassword, "");
  }
  void TearDown() override {
    credentials_.reset();
    accounts_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  void make(AccountOptions options, const std::string& secret = kSecret) {
    credentials_.reset();
    if (!accounts_) accounts_ = std::make_unique<AccountService>(*store_, clock_, options);
    credentials_ = std::make_unique<ClientCredentials>(*store_, *accounts_, clock_, secret, options);
  }

  NewClientCredential create(CredentialKind kind, const User& owner, const std::string& name = "Phone") {
    auto made = credentials_->create(kind, owner, name);
    EXPECT_TRUE(made.is_ok()) << made.status().to_string();
    return made.is_ok() ? *made : NewClientCredential{};
  }

  Result<User> token(const std::string& user, const std::string& password, const std::string& salt,
                     const std::string& address = kAddress) {
    return credentials_->check_token(user, md5_hex(password + salt), salt, address, nullptr);
  }

  fs::path dir_;
  ManualClock clock_;
  std::unique_ptr<MetaStore> store_;
  std::unique_ptr<AccountService> accounts_;
  std::unique_ptr<ClientCredentials> credentials_;
  User alice_, bob_;
};

TEST_F(ClientCredentialsTest, AppPasswordIsShownOnceStoredSealedListedAndRevocable) {
  auto made = create(CredentialKind::kAppPassword, alice_, "  Pixel 8  ");
  EXPECT_EQ(made.credential.name, "Pixel 8");
  EXPECT_EQ(made.secret.size(), 29u);  // six groups of four
  // The store never holds the password itself.
  auto all = store_->range("");
  ASSERT_TRUE(all.is_ok());
  for (const auto& kv : all->kvs) EXPECT_EQ(kv.value.find(made.secret), std::string::npos) << kv.key;

  auto listed = credentials_->list(CredentialKind::kAppPassword, alice_);
  ASSERT_TRUE(listed.is_ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].id, made.credential.id);
  EXPECT_EQ((*listed)[0].last_used_at, 0);
  EXPECT_TRUE(credentials_->list(CredentialKind::kAppPassword, bob_)->empty());
  // Nobody but the owner revokes it.
  EXPECT_EQ(credentials_->revoke(CredentialKind::kAppPassword, bob_, made.credential.id).code(), Code::kNotFound);
  EXPECT_TRUE(credentials_->revoke(CredentialKind::kAppPassword, alice_, made.credential.id).is_ok());
  EXPECT_TRUE(credentials_->list(CredentialKind::kAppPassword, alice_)->empty());
  EXPECT_EQ(credentials_->revoke(CredentialKind::kAppPassword, alice_, made.credential.id).code(), Code::kNotFound);
}

TEST_F(ClientCredentialsTest, NamesAndCountsAreBounded) {
  EXPECT_EQ(credentials_->create(CredentialKind::kApiKey, alice_, "   ").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(credentials_->create(CredentialKind::kApiKey, alice_, "a\nb").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(credentials_->create(CredentialKind::kApiKey, alice_, std::string(65, 'x')).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(credentials_->create(CredentialKind::kApiKey, alice_, "\xff").status().code(), Code::kInvalidArgument);
  for (std::size_t i = 0; i < kMaxCredentialsPerUser; ++i) create(CredentialKind::kApiKey, alice_, "k");
  EXPECT_EQ(credentials_->create(CredentialKind::kApiKey, alice_, "one more").status().code(),
            Code::kResourceExhausted);
}

TEST_F(ClientCredentialsTest, TokenMatchesAnyOfTheUsersAppPasswordsWithAnySaltAgain) {
  create(CredentialKind::kAppPassword, alice_, "Laptop");
  auto phone = create(CredentialKind::kAppPassword, alice_, "Phone");
  auto user = token("alice", phone.secret, "c19b2d");
  ASSERT_TRUE(user.is_ok()) << user.status().to_string();
  EXPECT_EQ(user->id, alice_.id);
  // The same salt again (clients that keep one) and a fresh one.
  EXPECT_TRUE(token("alice", phone.secret, "c19b2d").is_ok());
  EXPECT_TRUE(token("ALICE", phone.secret, "another-salt").is_ok());
  EXPECT_EQ(token("alice", phone.secret + "x", "c19b2d").status().code(), Code::kUnauthenticated);
  EXPECT_EQ(token("bob", phone.secret, "c19b2d").status().code(), Code::kFailedPrecondition);  // bob has none
  EXPECT_EQ(token("nobody", phone.secret, "c19b2d").status().code(), Code::kFailedPrecondition);
  // The account password is no app password.
  EXPECT_EQ(token("alice", kPassword, "c19b2d").status().code(), Code::kUnauthenticated);
}

TEST_F(ClientCredentialsTest, LastUseIsRecordedToTheMinute) {
  auto phone = create(CredentialKind::kAppPassword, alice_);
  clock_.advance_ms(5000);
  ASSERT_TRUE(token("alice", phone.secret, "salt01").is_ok());
  const auto first = clock_.now_ms();
  EXPECT_EQ((*credentials_->list(CredentialKind::kAppPassword, alice_))[0].last_used_at, first);
  clock_.advance_ms(10'000);
  ASSERT_TRUE(token("alice", phone.secret, "salt01").is_ok());
  EXPECT_EQ((*credentials_->list(CredentialKind::kAppPassword, alice_))[0].last_used_at, first);
  clock_.advance_ms(kLastUseResolutionMs);
  ASSERT_TRUE(token("alice", phone.secret, "salt01").is_ok());
  EXPECT_EQ((*credentials_->list(CredentialKind::kAppPassword, alice_))[0].last_used_at, clock_.now_ms());
}

TEST_F(ClientCredentialsTest, PasswordCheckTakesAppPasswordsAndTheAccountPassword) {
  auto phone = create(CredentialKind::kAppPassword, alice_);
  EXPECT_TRUE(credentials_->check_password("alice", phone.secret, kAddress, nullptr).is_ok());
  EXPECT_TRUE(credentials_->check_password("alice", kPassword, kAddress, nullptr).is_ok());
  EXPECT_EQ(credentials_->check_password("alice", "wrong password", kAddress, nullptr).status().code(),
            Code::kUnauthenticated);
  EXPECT_EQ(credentials_->check_password("nobody", kPassword, kAddress, nullptr).status().code(),
            Code::kUnauthenticated);
}

TEST_F(ClientCredentialsTest, ApiKeysAreStoredHashedAndCheckedAlone) {
  auto key = create(CredentialKind::kApiKey, bob_, "Feishin");
  EXPECT_EQ(key.secret.rfind("hifi_", 0), 0u);
  EXPECT_TRUE(store_->get("api-keys/" + to_hex(sha256(key.secret))).is_ok());
  auto all = store_->range("");
  for (const auto& kv : all->kvs) EXPECT_EQ(kv.value.find(key.secret), std::string::npos) << kv.key;
  auto user = credentials_->check_api_key(key.secret, kAddress, nullptr);
  ASSERT_TRUE(user.is_ok()) << user.status().to_string();
  EXPECT_EQ(user->id, bob_.id);
  EXPECT_EQ(credentials_->check_api_key(key.secret + "x", kAddress, nullptr).status().code(), Code::kUnauthenticated);
  ASSERT_TRUE(credentials_->revoke(CredentialKind::kApiKey, bob_, key.credential.id).is_ok());
  EXPECT_EQ(credentials_->check_api_key(key.secret, kAddress, nullptr).status().code(), Code::kUnauthenticated);
}

TEST_F(ClientCredentialsTest, DisablingAnAccountEndsEveryWayInAndEnablingRestoresThem) {
  auto phone = create(CredentialKind::kAppPassword, bob_);
  auto key = create(CredentialKind::kApiKey, bob_);
  ASSERT_TRUE(credentials_->check_password("bob", kPassword, kAddress, nullptr).is_ok());  // now cached
  ASSERT_TRUE(accounts_->set_disabled(alice_, bob_.id, true).is_ok());
  EXPECT_EQ(token("bob", phone.secret, "salt01").status().code(), Code::kUnauthenticated);
  EXPECT_EQ(credentials_->check_api_key(key.secret, kAddress, nullptr).status().code(), Code::kUnauthenticated);
  EXPECT_EQ(credentials_->check_password("bob", kPassword, kAddress, nullptr).status().code(), Code::kUnauthenticated);
  EXPECT_EQ(credentials_->check_password("bob", phone.secret, kAddress, nullptr).status().code(),
            Code::kUnauthenticated);
  ASSERT_TRUE(accounts_->set_disabled(alice_, bob_.id, false).is_ok());
  EXPECT_TRUE(token("bob", phone.secret, "salt01").is_ok());
  EXPECT_TRUE(credentials_->check_api_key(key.secret, kAddress, nullptr).is_ok());
}

TEST_F(ClientCredentialsTest, PasswordChangeEndsAppPasswordsApiKeysAndCachedChecks) {
  auto phone = create(CredentialKind::kAppPassword, bob_);
  auto key = create(CredentialKind::kApiKey, bob_);
  ASSERT_TRUE(credentials_->check_password("bob", kPassword, kAddress, nullptr).is_ok());
  ASSERT_TRUE(accounts_->change_password(bob_.id, kPassword, "battery staple").is_ok());
  EXPECT_EQ(credentials_->check_password("bob", kPassword, kAddress, nullptr).status().code(), Code::kUnauthenticated);
  EXPECT_TRUE(credentials_->check_password("bob", "battery staple", kAddress, nullptr).is_ok());
  EXPECT_EQ(token("bob", phone.secret, "salt01").status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(credentials_->check_api_key(key.secret, kAddress, nullptr).status().code(), Code::kUnauthenticated);
  // Listing drops what the old password made.
  EXPECT_TRUE(credentials_->list(CredentialKind::kAppPassword, bob_)->empty());
  EXPECT_TRUE(credentials_->list(CredentialKind::kApiKey, bob_)->empty());
  EXPECT_TRUE(store_->range("app-passwords/")->kvs.empty());
}

TEST_F(ClientCredentialsTest, CachedPasswordCheckExpires) {
  // A second check within the TTL costs no Argon2id; the visible effect is
  // that it holds even past the login limit, which only counts real checks.
  AccountOptions options;
  options.max_attempts_per_address = 1;
  accounts_ = std::make_unique<AccountService>(*store_, clock_, options);
  make(options);
  ASSERT_TRUE(credentials_->check_password("alice", kPassword, kAddress, nullptr).is_ok());
  EXPECT_TRUE(credentials_->check_password("alice", kPassword, kAddress, nullptr).is_ok());
  clock_.advance_ms(kPasswordCacheTtlMs + 1);
  EXPECT_EQ(credentials_->check_password("alice", kPassword, kAddress, nullptr).status().code(),
            Code::kResourceExhausted);
}

TEST_F(ClientCredentialsTest, FailuresAreRateLimitedPerAccountAndAddress) {
  AccountOptions options;
  options.max_failures_per_account = 3;
  options.max_attempts_per_address = 5;
  accounts_ = std::make_unique<AccountService>(*store_, clock_, options);
  make(options);
  auto phone = create(CredentialKind::kAppPassword, alice_);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(token("alice", "guess", "salt01").status().code(), Code::kUnauthenticated);
  std::int64_t retry = 0;
  auto blocked = credentials_->check_token("alice", md5_hex(phone.secret + "salt01"), "salt01", "10.0.0.2", &retry);
  EXPECT_EQ(blocked.status().code(), Code::kResourceExhausted);
  EXPECT_GT(retry, 0);
  // Another account from another address is unaffected...
  auto key = create(CredentialKind::kApiKey, bob_);
  EXPECT_TRUE(credentials_->check_api_key(key.secret, "10.0.0.3", nullptr).is_ok());
  // ...until that address fails too often.
  for (int i = 0; i < 5; ++i) (void)credentials_->check_api_key("hifi_bad", "10.0.0.3", nullptr);
  EXPECT_EQ(credentials_->check_api_key(key.secret, "10.0.0.3", nullptr).status().code(), Code::kResourceExhausted);
  clock_.advance_ms(options.rate_window_ms + 1);
  EXPECT_TRUE(credentials_->check_api_key(key.secret, "10.0.0.3", nullptr).is_ok());
  EXPECT_TRUE(token("alice", phone.secret, "salt01").is_ok());
}

TEST_F(ClientCredentialsTest, AppPasswordsSealedWithAnotherKeyDoNotOpen) {
  auto phone = create(CredentialKind::kAppPassword, alice_);
  make(AccountOptions{}, std::string(32, 'o'));
  EXPECT_EQ(token("alice", phone.secret, "salt01").status().code(), Code::kUnauthenticated);
  make(AccountOptions{}, kSecret);
  EXPECT_TRUE(token("alice", phone.secret, "salt01").is_ok());
}

TEST_F(ClientCredentialsTest, AnAdminSettingThePasswordEndsEveryCredential) {
  auto phone = create(CredentialKind::kAppPassword, bob_);
  auto key = create(CredentialKind::kApiKey, bob_);
  ASSERT_TRUE(credentials_->check_password("bob", kPassword, kAddress, nullptr).is_ok());  // now remembered
  ASSERT_TRUE(token("bob", phone.secret, "salt01").is_ok());
  ASSERT_TRUE(accounts_->set_password(alice_, bob_.id, "set by the admin").is_ok());
  EXPECT_EQ(credentials_->check_password("bob", kPassword, kAddress, nullptr).status().code(), Code::kUnauthenticated);
  EXPECT_EQ(credentials_->check_password("bob", phone.secret, kAddress, nullptr).status().code(),
            Code::kUnauthenticated);
  EXPECT_FALSE(token("bob", phone.secret, "salt01").is_ok());
  EXPECT_EQ(credentials_->check_api_key(key.secret, kAddress, nullptr).status().code(), Code::kUnauthenticated);
  EXPECT_TRUE(credentials_->check_password("bob", "set by the admin", kAddress, nullptr).is_ok());
}

TEST_F(ClientCredentialsTest, RemoveAllDropsTheUsersCredentialsOnly) {
  create(CredentialKind::kAppPassword, bob_);
  auto key = create(CredentialKind::kApiKey, bob_);
  auto alice_key = create(CredentialKind::kApiKey, alice_);
  ASSERT_TRUE(credentials_->remove_all(bob_.id).is_ok());
  EXPECT_TRUE(credentials_->list(CredentialKind::kAppPassword, bob_)->empty());
  EXPECT_TRUE(credentials_->list(CredentialKind::kApiKey, bob_)->empty());
  EXPECT_FALSE(credentials_->check_api_key(key.secret, kAddress, nullptr).is_ok());
  EXPECT_TRUE(credentials_->check_api_key(alice_key.secret, kAddress, nullptr).is_ok());
  EXPECT_TRUE(credentials_->remove_all(bob_.id).is_ok());  // none left: fine
}

}  // namespace
}  // namespace hifi
