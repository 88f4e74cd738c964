// Certificates made at test time with the openssl command: an authority,
// and certificates it signs for servers and clients (P-256 keys, both
// serverAuth and clientAuth), in a directory of the test's own.
//
//   TestPki pki(dir);
//   auto ca = pki.authority("ca");
//   auto node = pki.certificate("node", ca, "IP:127.0.0.1");
//   node.cert, node.key   PEM files
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace hifi::testing {

struct PemPair {
  std::string cert;  // path of the certificate (PEM)
  std::string key;   // path of its private key (PEM)
};

class TestPki {
 public:
  explicit TestPki(std::filesystem::path dir) : dir_(std::move(dir)) { std::filesystem::create_directories(dir_); }

  // A self-signed authority valid for two days.
  PemPair authority(const std::string& name) {
    PemPair out = paths(name);
    run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj '/CN=" + name +
        "' -keyout '" + out.key + "' -out '" + out.cert + "'");
    return out;
  }

  // A certificate for `san` (subjectAltName entries, "IP:127.0.0.1,DNS:x")
  // signed by `ca`, valid for a day; `expired`: valid only on 2020-01-01.
  PemPair certificate(const std::string& name, const PemPair& ca, const std::string& san, bool expired = false) {
    PemPair out = paths(name);
    const auto ext = (dir_ / (name + ".ext")).string();
    std::ofstream(ext) << "subjectAltName=" << san
                       << "\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
                          "extendedKeyUsage=serverAuth,clientAuth\n";
    const auto csr = (dir_ / (name + ".csr")).string();
    run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '/CN=" + name + "' -keyout '" +
        out.key + "' -out '" + csr + "'");
    if (expired) {
      // `openssl ca` can set both ends of the validity in the past.
      const auto db = (dir_ / (name + ".db")).string();
      const auto conf = (dir_ / (name + ".cnf")).string();
      std::ofstream(db).close();
      std::ofstream(conf) << "[ca]\ndefault_ca=d\n[d]\ndatabase=" << db << "\nnew_certs_dir=" << dir_.string()
                          << "\nserial=" << (dir_ / (name + ".serial")).string()
                          << "\ndefault_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n";
      std::ofstream(dir_ / (name + ".serial")) << "01\n";
      run("openssl ca -batch -config '" + conf + "' -cert '" + ca.cert + "' -keyfile '" + ca.key + "' -in '" + csr +
          "' -out '" + out.cert + "' -extfile '" + ext + "' -startdate 20200101000000Z -enddate 20200102000000Z");
    } else {
      run("openssl x509 -req -in '" + csr + "' -CA '" + ca.cert + "' -CAkey '" + ca.key +
          "' -CAcreateserial -days 1 -extfile '" + ext + "' -out '" + out.cert + "'");
    }
    return out;
  }

  const std::filesystem::path& dir() const { return dir_; }

 private:
  PemPair paths(const std::string& name) const {
    return {(dir_ / (name + ".pem")).string(), (dir_ / (name + ".key")).string()};
  }
  static void run(const std::string& command) {
    if (std::system((command + " >/dev/null 2>&1").c_str()) != 0) {
      throw std::runtime_error("failed: " + command);
    }
  }

  std::filesystem::path dir_;
};

}  // namespace hifi::testing
