#include "net/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>

#include <cstdio>
#include <ctime>

namespace hifi::net {
namespace {

namespace ssl = boost::asio::ssl;

// TLS 1.2 and later, nothing older.
void restrict_versions(TlsContext& ctx) {
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                  ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  ::SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
}

// A key that is not the certificate's is refused as it is loaded.
bool key_mismatch(const boost::system::error_code& ec) {
  return ec.category() == boost::asio::error::get_ssl_category() &&
         ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH;
}

std::string ssl_reason(const boost::system::error_code& ec) {
  if (ec.category() == boost::asio::error::get_ssl_category()) {
    if (const char* reason = ::ERR_reason_error_string(static_cast<unsigned long>(ec.value()))) return reason;
  }
  return ec.message();
}

// "CN=..., valid until YYYY-MM-DD (serial ...)" of a context's certificate.
std::string describe_certificate(TlsContext& ctx) {
  X509* cert = ::SSL_CTX_get0_certificate(ctx.native_handle());
  if (cert == nullptr) return "no certificate";
  char subject[256] = {};
  ::X509_NAME_oneline(::X509_get_subject_name(cert), subject, sizeof subject - 1);
  std::string out = subject;
  std::tm until{};
  if (::ASN1_TIME_to_tm(::X509_get0_notAfter(cert), &until) == 1) {
    char date[32];
    std::snprintf(date, sizeof date, "%04d-%02d-%02d", until.tm_year + 1900, until.tm_mon + 1, until.tm_mday);
    out += std::string(", valid until ") + date;
  }
  if (BIGNUM* serial = ::ASN1_INTEGER_to_BN(::X509_get0_serialNumber(cert), nullptr)) {
    if (char* hex = ::BN_bn2hex(serial)) {
      out += std::string(" (serial ") + hex + ")";
      ::OPENSSL_free(hex);
    }
    ::BN_free(serial);
  }
  return out;
}

Result<std::shared_ptr<TlsContext>> server_context(const std::string& cert_file, const std::string& key_file) {
  auto ctx = std::make_shared<TlsContext>(TlsContext::tls_server);
  restrict_versions(*ctx);
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(cert_file, ec);
  if (ec) return invalid_argument("cannot use the certificate " + cert_file + ": " + ssl_reason(ec));
  ctx->use_private_key_file(key_file, TlsContext::pem, ec);
  if (ec || ::SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    if (ec && !key_mismatch(ec)) return invalid_argument("cannot use the private key " + key_file + ": " + ssl_reason(ec));
    ::ERR_clear_error();
    return invalid_argument("the private key " + key_file + " does not belong to the certificate " + cert_file);
  }
  return ctx;
}

std::mutex default_mu;
std::shared_ptr<TlsContext> default_context;

}  // namespace

Result<std::shared_ptr<TlsContext>> make_client_context(const ClientTlsFiles& files) {
  auto ctx = std::make_shared<TlsContext>(TlsContext::tls_client);
  restrict_versions(*ctx);
  boost::system::error_code ec;
  if (files.ca_file.empty()) {
    ctx->set_default_verify_paths(ec);
    if (ec) return invalid_argument("cannot read the system's certificate authorities: " + ssl_reason(ec));
  } else {
    ctx->load_verify_file(files.ca_file, ec);
    if (ec) return invalid_argument("cannot use the certificate authority file " + files.ca_file + ": " + ssl_reason(ec));
  }
  ctx->set_verify_mode(ssl::verify_peer);
  if (files.cert_file.empty() != files.key_file.empty()) {
    return invalid_argument("a client certificate needs both its certificate file and its key file");
  }
  if (!files.cert_file.empty()) {
    ctx->use_certificate_chain_file(files.cert_file, ec);
    if (ec) return invalid_argument("cannot use the client certificate " + files.cert_file + ": " + ssl_reason(ec));
    ctx->use_private_key_file(files.key_file, TlsContext::pem, ec);
    if (ec || ::SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
      if (ec && !key_mismatch(ec)) {
        return invalid_argument("cannot use the client key " + files.key_file + ": " + ssl_reason(ec));
      }
      ::ERR_clear_error();
      return invalid_argument("the key " + files.key_file + " does not belong to the certificate " + files.cert_file);
    }
  }
  return ctx;
}

std::shared_ptr<TlsContext> default_client_context() {
  std::lock_guard lock(default_mu);
  if (!default_context) {
    auto ctx = make_client_context({});
    // Without a readable system store every certificate fails its check,
    // which is the safe outcome; the handshake's error then says so.
    default_context = ctx ? *ctx : std::make_shared<TlsContext>(TlsContext::tls_client);
    if (!ctx) default_context->set_verify_mode(ssl::verify_peer);
  }
  return default_context;
}

void set_default_client_context(std::shared_ptr<TlsContext> context) {
  std::lock_guard lock(default_mu);
  default_context = std::move(context);
}

Stream client_stream(const boost::asio::any_io_executor& executor, const Endpoint& server,
                     std::shared_ptr<TlsContext> context) {
  if (!server.is_https()) return Stream(Stream::tcp_stream(executor));
  Stream stream(Stream::tcp_stream(executor), context ? std::move(context) : default_client_context());
  boost::system::error_code ec;
  boost::asio::ip::make_address(server.host, ec);
  if (ec) {
    // Server Name Indication is for names only (RFC 6066 3).
    ::SSL_set_tlsext_host_name(stream.tls().native_handle(), server.host.c_str());
  }
  stream.tls().set_verify_mode(ssl::verify_peer);
  stream.tls().set_verify_callback(ssl::host_name_verification(server.host));
  return stream;
}

std::string describe_error(const boost::system::error_code& ec) {
  if (ec == ssl::error::stream_truncated) return "the TLS connection was cut without a close";
  if (ec.category() == boost::asio::error::get_ssl_category() &&
      ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
    return "the server's certificate is not trusted (not signed by a known authority, expired, or made for "
           "another host)";
  }
  if (ec.category() == boost::asio::error::get_ssl_category()) return "TLS: " + ssl_reason(ec);
  return ec.message();
}

Result<std::unique_ptr<ServerCertificate>> ServerCertificate::load(std::string cert_file, std::string key_file) {
  std::unique_ptr<ServerCertificate> cert(new ServerCertificate(std::move(cert_file), std::move(key_file)));
  if (auto s = cert->reload(); !s) return s;
  return cert;
}

std::shared_ptr<TlsContext> ServerCertificate::context() const {
  std::lock_guard lock(mu_);
  return context_;
}

Status ServerCertificate::reload() {
  auto ctx = server_context(cert_file_, key_file_);
  if (!ctx) return ctx.status();
  auto description = describe_certificate(**ctx);
  std::lock_guard lock(mu_);
  context_ = std::move(*ctx);
  description_ = std::move(description);
  return Status::ok();
}

std::string ServerCertificate::describe() const {
  std::lock_guard lock(mu_);
  return description_;
}

}  // namespace hifi::net
