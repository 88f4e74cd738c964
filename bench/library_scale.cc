// library_scale: the catalog at 100,000 songs, measured in process
// (see docs/benchmarks.md, "Library at scale").
//
// Fills SQLite MetaStores with synthetic but realistic song records (written
// as the catalog stores them: songs/<id> = song_to_json(), 1,000 a
// transaction; no audio files, the catalog reads only the records), starts a
// Catalog on them and measures:
//  - Catalog::start() on the big library (loading the view), and the first
//    read of each kind after it (what builds the catalog's indexes);
//  - p50/p99/max over --calls calls of each read the REST and Subsonic
//    adapters make: song pages by every sort and direction, deep pages by
//    cursor and by offset, searches, filtered pages, albums, artists,
//    genres, random songs;
//  - the first read after one song is added or removed (put or delete in
//    the store, wait until the catalog has it), and how long until it has it;
//  - resident memory (VmRSS) of a fresh process that opened the store,
//    before and after loading the catalog (and reading once from every
//    index), for an empty library, --mem-songs and --songs songs. Each is a
//    child process (this program with --rss), so one measurement's heap does
//    not carry into the next.
// Prints a table with the goal next to each figure, then one line per
// measure:  RESULT <measure> <value> <unit> <goal> <met|missed|info>
// ("info" and goal "-": no goal was set for it).
//
//   library_scale [--songs 100000] [--mem-songs 30000] [--calls 300]
//                 [--starts 3] [--changes 20] [--dir DIR] [--keep]
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "blob/blob_store.h"
#include "common/clock.h"
#include "common/random.h"
#include "common/text.h"
#include "library/catalog.h"
#include "store/meta_store.h"

namespace {

using namespace hifi;
using Steady = std::chrono::steady_clock;
namespace fs = std::filesystem;

double ms_since(Steady::time_point start) {
  return std::chrono::duration<double, std::milli>(Steady::now() - start).count();
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "library_scale: %s\n", what.c_str());
  std::exit(1);
}

long rss_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

// ---- The synthetic library ----------------------------------------------

// Words of titles and names; the first ones are the most frequent (a Zipf
// draw), some are not ASCII, as in a real library.
const std::vector<std::string> kWords = {
    "love", "night", "heart", "time", "light", "dream", "blue", "fire", "home", "world",
    "rain", "moon", "sun", "river", "road", "song", "dance", "life", "black", "gold",
    "summer", "winter", "city", "star", "wild", "sweet", "lost", "young", "free", "heaven",
    "ocean", "shadow", "silver", "angel", "storm", "morning", "midnight", "paradise", "dreamer", "stone",
    "café", "über", "niño", "mañana", "für", "élan", "señorita", "naïve", "smörgåsbord", "déjà",
    "москва", "ночь", "東京", "夜", "さくら", "音楽", "Ωmega", "straße", "fjörd", "crème",
    "electric", "highway", "forever", "tonight", "broken", "golden", "memory", "secret", "crystal", "velvet",
    "thunder", "whisper", "echo", "mirror", "garden", "desert", "island", "valley", "mountain", "harbor",
    "satellite", "machine", "signal", "voltage", "neon", "static", "radio", "cassette", "vinyl", "tape",
    "letter", "window", "station", "bridge", "tower", "castle", "kingdom", "empire", "circle", "spiral",
    "orange", "purple", "scarlet", "amber", "indigo", "crimson", "emerald", "ivory", "copper", "cobalt",
    "wolf", "raven", "tiger", "falcon", "serpent", "lion", "fox", "owl", "dragon", "phoenix",
    "sister", "brother", "mother", "father", "stranger", "lover", "soldier", "sailor", "dancer", "runner",
    "monday", "friday", "sunday", "april", "october", "december", "yesterday", "tomorrow", "always", "never",
    "alone", "together", "inside", "outside", "under", "over", "between", "beyond", "across", "around",
};
const std::vector<std::string> kGenres = {
    "Rock", "Pop", "Jazz", "Electronic", "Hip-Hop", "Classical", "Metal", "Folk", "Blues", "Soul",
    "R&B", "Country", "Reggae", "Punk", "Indie", "Ambient", "Techno", "House", "Funk", "Disco",
    "Latin", "Soundtrack", "World", "Gospel", "Ska", "Grunge", "Trance", "Drum & Bass", "Dubstep", "Chanson",
    "Bossa Nova", "Flamenco", "J-Pop", "K-Pop", "Schlager", "Krautrock", "Shoegaze", "Post-Rock", "Emo", "Swing",
};
constexpr char kRareWord[] = "zephyrine";  // in a handful of titles only
constexpr char kCommonWord[] = "love";      // in about a tenth of the titles

std::string cap(std::string w) {
  if (!w.empty() && w[0] >= 'a' && w[0] <= 'z') w[0] = static_cast<char>(w[0] - 'a' + 'A');
  return w;
}

class Generator {
 public:
  Generator() : rng_(42) {
    // Zipf-ish weights: word i has weight 1/(i+3).
    std::vector<double> w;
    for (std::size_t i = 0; i < kWords.size(); ++i) w.push_back(1.0 / static_cast<double>(i + 3));
    word_ = std::discrete_distribution<std::size_t>(w.begin(), w.end());
    std::vector<double> g;
    for (std::size_t i = 0; i < kGenres.size(); ++i) g.push_back(1.0 / static_cast<double>(i + 2));
    genre_ = std::discrete_distribution<std::size_t>(g.begin(), g.end());
  }

  std::string words(int min, int max) {
    std::uniform_int_distribution<int> n(min, max);
    std::string out;
    for (int i = n(rng_); i > 0; --i) {
      if (!out.empty()) out += ' ';
      out += cap(kWords[word_(rng_)]);
    }
    return out;
  }

  // Artist a (0-based): a name of 1-3 words, made unique by a number for
  // one in three (bands do share words).
  std::string artist_name(int a) {
    std::mt19937_64 r(1000 + static_cast<std::uint64_t>(a));
    std::uniform_int_distribution<std::size_t> pick(0, kWords.size() - 1);
    std::string name = (a % 4 == 0 ? "The " : "") + cap(kWords[pick(r)]);
    if (a % 3 != 0) name += " " + cap(kWords[pick(r)]);
    return name + " " + std::to_string(a);
  }

  // Song number i of the library: album i / 10, artist album / 2.
  Song song(int i) {
    const int album = i / 10, track = i % 10, artist = album / 2;
    if (album != album_no_) {
      album_no_ = album;
      album_name_ = words(1, 4) + (album % 5 == 0 ? " (Deluxe)" : "");
      album_genre_ = kGenres[genre_(rng_)];
      album_year_ = std::uniform_int_distribution<int>(1955, 2024)(rng_);
      compilation_ = album % 20 == 7;
      album_covered_ = album % 2 == 0;
    }
    Song s;
    s.sha256 = ContentHash::of("library-scale song " + std::to_string(i));
    s.id = s.sha256.hex().substr(0, 32);
    s.size = std::uniform_int_distribution<std::uint64_t>(3'000'000, 60'000'000)(rng_);
    s.title = words(1, 5);
    if (i % 7 == 3) s.title += " (" + cap(kCommonWord) + " Version)";
    if (i % 25'000 == 11) s.title += " " + cap(kRareWord);
    s.artist = compilation_ ? artist_name(std::uniform_int_distribution<int>(0, 4999)(rng_)) : artist_name(artist);
    s.album = album_name_;
    s.album_artist = compilation_ ? "Various Artists" : "";
    s.genre = album_genre_;
    s.track = track + 1;
    s.disc = 1;
    s.year = album_year_;
    s.duration_ms = std::uniform_int_distribution<std::int64_t>(60'000, 600'000)(rng_);
    s.content_type = "audio/flac";
    s.format = "flac";
    s.codec = "flac";
    s.bitrate = 900'000;
    s.sample_rate = 44'100;
    s.channels = 2;
    if (album_covered_) {
      s.cover_sha256 = ContentHash::of("library-scale cover " + std::to_string(album));
      s.cover_mime = "image/jpeg";
    }
    s.filename = s.artist + " - " + s.title + ".flac";
    s.uploaded_by = "user-" + std::to_string(i % 5);
    s.uploaded_at = 1'700'000'000'000 + static_cast<std::int64_t>(i) * 1000 +
                    std::uniform_int_distribution<int>(0, 999)(rng_);
    return s;
  }

 private:
  std::mt19937_64 rng_;
  std::discrete_distribution<std::size_t> word_, genre_;
  int album_no_ = -1;
  std::string album_name_, album_genre_;
  int album_year_ = 0;
  bool compilation_ = false, album_covered_ = false;
};

std::unique_ptr<MetaStore> open_store(const std::string& path) {
  auto store = open_sqlite_meta_store(path);
  if (!store) die("open " + path + ": " + store.status().to_string());
  return std::move(store).value();
}

// Adds songs [from, to) of the generator's sequence (which must be at `from`).
void fill(MetaStore& store, Generator& gen, int from, int to) {
  std::vector<Op> ops;
  auto flush = [&] {
    if (ops.empty()) return;
    auto txn = store.txn({}, ops);
    if (!txn || !txn->succeeded) die("txn failed");
    ops.clear();
  };
  for (int i = from; i < to; ++i) {
    auto s = gen.song(i);
    ops.push_back(Op::put("songs/" + s.id, song_to_json(s)));
    if (ops.size() == 1000) flush();
  }
  flush();
}

// ---- Figures ---------------------------------------------------------------

struct Row {
  std::string name;
  std::string what;
  std::vector<double> samples;  // ms
  double goal = 0;              // 0: none
  std::string unit = "ms";
  bool single = false;          // one figure, not a distribution
};

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

std::vector<Row> rows;

void add_row(Row r) {
  const double v = r.single ? r.samples.at(0) : pct(r.samples, 99);
  if (r.single) {
    std::printf("  %-34s %10.1f %-3s %26s  goal %s\n", r.what.c_str(), v, r.unit.c_str(), "",
                r.goal > 0 ? (std::to_string(static_cast<long>(r.goal)) + " " + r.unit).c_str() : "-");
  } else {
    std::printf("  %-34s %8.3f %8.3f %8.3f  (%4zu calls)  goal p99 %s\n", r.what.c_str(),
                pct(r.samples, 50), v, pct(r.samples, 100), r.samples.size(),
                r.goal > 0 ? (std::to_string(static_cast<long>(r.goal)) + " ms").c_str() : "-");
  }
  std::fflush(stdout);
  rows.push_back(std::move(r));
}

template <typename F>
std::vector<double> time_calls(int calls, F&& f) {
  std::vector<double> out;
  out.reserve(static_cast<std::size_t>(calls));
  for (int i = 0; i < calls; ++i) {
    const auto t = Steady::now();
    f(i);
    out.push_back(ms_since(t));
  }
  return out;
}

SongPage must(const Result<SongPage>& r) {
  if (!r) die("query: " + r.status().to_string());
  return *r;
}

// ---- --rss: one memory measurement in a fresh process ------------------------

int rss_child(const std::string& db, const std::string& blob_dir) {
  init_crypto();
  auto store = open_store(db);
  BlobStore blobs(blob_dir);
  SystemClock clock;
  (void)fold_for_search("Wärm Üp ICU");  // not ASCII: loads what every node has loaded anyway
  const long before = rss_kb();
  Catalog catalog(*store, blobs, clock);
  if (auto s = catalog.start(); !s) die("start: " + s.to_string());
  const long loaded = rss_kb();
  // Everything a serving node builds on its first reads.
  for (auto sort : {SongSort::kTitle, SongSort::kArtist, SongSort::kAlbum, SongSort::kUploadedAt,
                    SongSort::kDuration}) {
    SongQuery q;
    q.sort = sort;
    must(catalog.query(q));
    q.text = kCommonWord;
    must(catalog.query(q));
  }
  (void)catalog.albums("");
  (void)catalog.artists("");
  (void)catalog.genres();
  (void)catalog.albums_by_artist("0");
  SongQuery q;
  q.album_id = "0";
  must(catalog.query(q));
  const long read = rss_kb();
  std::printf("RSS %ld %ld %ld %zu\n", before, loaded, read, catalog.size());
  return 0;
}

struct RssFigure {
  long before = 0, loaded = 0, read = 0;
};

RssFigure measure_rss(const std::string& exe, const std::string& db, const std::string& blob_dir) {
  int pipefd[2];
  if (::pipe(pipefd) != 0) die("pipe");
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(pipefd[1], 1);
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    ::execl(exe.c_str(), exe.c_str(), "--rss", db.c_str(), blob_dir.c_str(), static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  ::close(pipefd[1]);
  std::string out;
  char buf[256];
  for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  RssFigure f;
  const auto at = out.find("RSS ");
  if (at == std::string::npos || std::sscanf(out.c_str() + at, "RSS %ld %ld %ld", &f.before, &f.loaded, &f.read) != 3) {
    die("memory child failed: " + out);
  }
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--rss") return rss_child(argv[2], argv[3]);
  int songs = 100'000, mem_songs = 30'000, calls = 300, starts = 3, changes = 20;
  std::string dir;
  bool keep = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die("missing value after " + a);
      return argv[++i];
    };
    if (a == "--songs") songs = std::stoi(next());
    else if (a == "--mem-songs") mem_songs = std::stoi(next());
    else if (a == "--calls") calls = std::stoi(next());
    else if (a == "--starts") starts = std::stoi(next());
    else if (a == "--changes") changes = std::stoi(next());
    else if (a == "--dir") dir = next();
    else if (a == "--keep") keep = true;
    else die("unknown argument " + a + " (see the comment at the top of bench/library_scale.cc)");
  }
  if (mem_songs > songs) mem_songs = songs;
  init_crypto();
  if (dir.empty()) {
    std::string pattern = (fs::temp_directory_path() / "hifi-library-scale-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) die("mkdtemp");
    dir = pattern;
  }
  fs::create_directories(dir);
  const auto exe = fs::read_symlink("/proc/self/exe").string();
  const std::string db_empty = dir + "/empty.db", db_small = dir + "/small.db", db_big = dir + "/big.db";
  const std::string blob_dir = dir + "/blobs";
  fs::create_directories(blob_dir);
  double load = 0;
  if (std::FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &load) != 1) load = 0;
    std::fclose(f);
  }
  std::printf("library_scale: %d songs (%d for the memory figure), %d calls a measure; "
              "%u cores, load average %.2f at the start\n",
              songs, mem_songs, calls, std::thread::hardware_concurrency(), load);

  // The stores: an empty one, mem_songs songs, and songs songs (the first
  // mem_songs the same).
  {
    const auto t = Steady::now();
    for (const auto& p : {db_empty, db_small, db_big}) {
      for (const auto* suffix : {"", "-wal", "-shm", ".reserve"}) fs::remove(p + suffix);
    }
    Generator gen;
    { auto empty = open_store(db_empty); }
    {
      auto small = open_store(db_small);
      fill(*small, gen, 0, mem_songs);
    }
    fs::copy_file(db_small, db_big);
    auto big = open_store(db_big);
    fill(*big, gen, mem_songs, songs);
    std::printf("filled the stores in %.1f s\n\n", ms_since(t) / 1000);
  }

  // Memory, each in a fresh process.
  std::printf("Resident memory (VmRSS of a fresh process: store open; catalog loaded; after one read of each kind)\n");
  const auto rss_empty = measure_rss(exe, db_empty, blob_dir);
  const auto rss_small = measure_rss(exe, db_small, blob_dir);
  const auto rss_big = measure_rss(exe, db_big, blob_dir);
  auto print_rss = [](const char* what, const RssFigure& f) {
    std::printf("  %-22s %8.1f MB %8.1f MB %8.1f MB\n", what, f.before / 1024.0, f.loaded / 1024.0, f.read / 1024.0);
  };
  print_rss("empty library", rss_empty);
  print_rss((std::to_string(mem_songs) + " songs").c_str(), rss_small);
  print_rss((std::to_string(songs) + " songs").c_str(), rss_big);
  const double small_delta = (rss_small.read - rss_empty.read) / 1024.0;
  const double big_delta = (rss_big.read - rss_empty.read) / 1024.0;
  std::printf("  above an empty node: %d songs %.1f MB (goal 50 MB), %d songs %.1f MB; %.0f bytes a song\n\n",
              mem_songs, small_delta, songs, big_delta,
              (rss_big.read - rss_empty.read) * 1024.0 / std::max(songs, 1));

  auto store = open_store(db_big);
  BlobStore blobs(blob_dir);
  SystemClock wall;

  // Start-up.
  std::printf("Start-up: Catalog::start() on %d songs\n", songs);
  std::vector<double> start_ms;
  for (int i = 0; i < std::max(starts, 1); ++i) {
    Catalog c(*store, blobs, wall);
    const auto t = Steady::now();
    if (auto s = c.start(); !s) die("start: " + s.to_string());
    start_ms.push_back(ms_since(t));
    if (c.size() != static_cast<std::size_t>(songs)) die("the catalog holds " + std::to_string(c.size()) + " songs");
  }
  std::printf("  runs: ");
  for (double v : start_ms) std::printf("%.0f ms ", v);
  std::printf("\n");
  add_row({"start", "start() (max of the runs)", {*std::max_element(start_ms.begin(), start_ms.end())}, 2000, "ms", true});

  Catalog catalog(*store, blobs, wall);
  if (auto s = catalog.start(); !s) die("start: " + s.to_string());
  std::printf("\nFirst reads after start-up (what builds the indexes)\n");
  {
    std::vector<double> first;
    for (auto sort : {SongSort::kTitle, SongSort::kArtist, SongSort::kAlbum, SongSort::kUploadedAt,
                      SongSort::kDuration}) {
      SongQuery q;
      q.sort = sort;
      const auto t = Steady::now();
      must(catalog.query(q));
      first.push_back(ms_since(t));
    }
    add_row({"first_list_after_start", "first page, each sort (max)", {*std::max_element(first.begin(), first.end())}, 20, "ms", true});
    const auto t = Steady::now();
    (void)catalog.albums("");
    add_row({"first_albums_after_start", "first albums(\"\")", {ms_since(t)}, 20, "ms", true});
  }

  // Inputs drawn from the library.
  const auto all_albums = catalog.albums("");
  const auto all_artists = catalog.artists("");
  if (all_albums.empty() || all_artists.empty()) die("no albums or artists");
  std::mt19937_64 rng(7);
  auto any_album = [&] { return all_albums[rng() % all_albums.size()]; };
  auto any_artist = [&] { return all_artists[rng() % all_artists.size()]; };

  std::printf("\nReads (ms)                              p50      p99      max\n");
  struct SortName {
    SongSort sort;
    const char* name;
  };
  for (auto [sort, name] : {SortName{SongSort::kTitle, "title"}, SortName{SongSort::kArtist, "artist"},
                            SortName{SongSort::kAlbum, "album"}, SortName{SongSort::kUploadedAt, "uploaded_at"},
                            SortName{SongSort::kDuration, "duration"}}) {
    for (bool desc : {false, true}) {
      SongQuery q;
      q.sort = sort;
      q.descending = desc;
      const std::string id = std::string("list_") + name + (desc ? "_desc" : "_asc");
      add_row({id, std::string("first page by ") + name + (desc ? " desc" : " asc"),
               time_calls(calls, [&](int) { must(catalog.query(q)); }), 20});
    }
  }
  {
    // Following `next` 50 pages deep: the time of each page.
    SongQuery q;
    std::vector<double> samples;
    for (int run = 0; static_cast<int>(samples.size()) < calls; ++run) {
      q.cursor.clear();
      q.descending = run % 2 == 1;
      for (int page = 0; page < 50 && static_cast<int>(samples.size()) < calls; ++page) {
        const auto t = Steady::now();
        auto p = must(catalog.query(q));
        samples.push_back(ms_since(t));
        if (p.next.empty()) break;
        q.cursor = p.next;
      }
    }
    add_row({"cursor_pages", "pages 1-50 by cursor", samples, 20});
  }
  {
    // A cursor deep in the list: the `next` of the page at offset 50,000.
    SongQuery q;
    q.offset = static_cast<std::size_t>(songs / 2);
    const auto deep = must(catalog.query(q)).next;
    q.offset = 0;
    q.cursor = deep;
    add_row({"cursor_deep", "page by a cursor at 50%", time_calls(calls, [&](int) { must(catalog.query(q)); }), 20});
  }
  {
    SongQuery q;
    q.offset = 2500;
    add_row({"offset_2500", "page at offset 2,500", time_calls(calls, [&](int) { must(catalog.query(q)); }), 20});
    q.offset = static_cast<std::size_t>(songs / 2);
    add_row({"offset_half", "page at offset 50%", time_calls(calls, [&](int) { must(catalog.query(q)); }), 20});
    q.limit = 500;
    add_row({"offset_half_500", "500 songs at offset 50%", time_calls(calls, [&](int) { must(catalog.query(q)); }), 20});
  }
  {
    SongQuery q;
    q.text = kCommonWord;
    add_row({"search_common", "search a common word", time_calls(calls, [&](int) { must(catalog.query(q)); }), 20});
    q.sort = SongSort::kTitle;
    q.offset = 1000;
    add_row({"search_common_offset", "common word, by title, offset 1,000",
             time_calls(calls, [&](int) { must(catalog.query(q)); }), 20});
    SongQuery rare;
    rare.text = kRareWord;
    add_row({"search_rare", "search a rare word", time_calls(calls, [&](int) { must(catalog.query(rare)); }), 20});
    SongQuery none;
    none.text = "qqqqqq";
    add_row({"search_none", "search a word in no song", time_calls(calls, [&](int) { must(catalog.query(none)); }), 20});
  }
  {
    SongQuery q;
    q.genre = "jazz";
    q.sort = SongSort::kTitle;
    std::vector<double> samples;
    for (int run = 0; static_cast<int>(samples.size()) < calls; ++run) {
      q.cursor.clear();
      for (int page = 0; page < 20 && static_cast<int>(samples.size()) < calls; ++page) {
        const auto t = Steady::now();
        auto p = must(catalog.query(q));
        samples.push_back(ms_since(t));
        if (p.next.empty()) break;
        q.cursor = p.next;
      }
    }
    add_row({"genre_pages", "genre filter, pages 1-20 by cursor", samples, 20});
    SongQuery years;
    years.from_year = 1990;
    years.to_year = 1991;
    add_row({"years_page", "years 1990-91, first page", time_calls(calls, [&](int) { must(catalog.query(years)); }), 20});
  }
  add_row({"album_songs", "songs of an album (album page)", time_calls(calls, [&](int) {
             SongQuery q;
             q.album_id = any_album().id;
             q.sort = SongSort::kAlbum;
             q.limit = 500;
             must(catalog.query(q));
           }), 20});
  add_row({"artist_songs", "songs of an artist", time_calls(calls, [&](int) {
             SongQuery q;
             q.artist_id = any_artist().id;
             must(catalog.query(q));
           }), 20});
  add_row({"albums_all", "albums(\"\")", time_calls(calls, [&](int) { (void)catalog.albums(""); }), 20});
  add_row({"artists_all", "artists(\"\")", time_calls(calls, [&](int) { (void)catalog.artists(""); }), 20});
  // A page of the album list as REST /albums and Subsonic getAlbumList2 ask
  // for it (50 albums from a random place), in each order.
  for (const auto& [name, label, order] :
       {std::tuple{"albums_page_artist", "albums_in_order(artist, 50)", AlbumOrder::kArtist},
        std::tuple{"albums_page_name", "albums_in_order(name, 50)", AlbumOrder::kName},
        std::tuple{"albums_page_newest", "albums_in_order(newest, 50)", AlbumOrder::kNewest}}) {
    add_row({name, label, time_calls(calls, [&, order = order](int) {
               (void)catalog.albums_in_order(order, rng() % all_albums.size(), 50);
             }), 20});
  }
  add_row({"albums_text", "albums(common word)", time_calls(calls, [&](int) { (void)catalog.albums(kCommonWord); }), 20});
  add_row({"artists_text", "artists(common word)", time_calls(calls, [&](int) { (void)catalog.artists(kCommonWord); }), 20});
  add_row({"album_by_id", "album(id)", time_calls(calls, [&](int) {
             if (!catalog.album(any_album().id)) die("album");
           }), 20});
  add_row({"artist_by_id", "artist(id)", time_calls(calls, [&](int) {
             if (!catalog.artist(any_artist().id)) die("artist");
           }), 20});
  add_row({"albums_by_artist", "albums_by_artist(id)", time_calls(calls, [&](int) {
             (void)catalog.albums_by_artist(any_artist().id);
           }), 20});
  add_row({"genres", "genres()", time_calls(calls, [&](int) { (void)catalog.genres(); }), 20});
  add_row({"random_songs", "random_songs(10)", time_calls(calls, [&](int) { (void)catalog.random_songs({}, 10); }), 20});
  {
    SongQuery g;
    g.genre = "rock";
    add_row({"random_songs_genre", "random_songs(10, genre)",
             time_calls(calls, [&](int) { (void)catalog.random_songs(g, 10); }), 20});
  }

  // Changes: one song added (then removed again) through the store; the
  // time until the catalog has it, and the first reads after it.
  std::printf("\nAfter one song is added or removed (ms)  p50      p99      max\n");
  {
    Generator late;
    std::vector<double> visible, first_list, first_albums, first_search;
    for (int i = 0; i < changes; ++i) {
      auto s = late.song(songs + 10 + i);
      s.title = "Late Song " + std::to_string(i);
      const auto key = "songs/" + s.id;
      for (bool add : {true, false}) {
        const auto want = catalog.size() + (add ? 1 : -1);
        const auto t = Steady::now();
        auto w = add ? store->put(key, song_to_json(s)) : store->del(key);
        if (!w) die("write: " + w.status().to_string());
        while (catalog.size() != want) std::this_thread::yield();
        visible.push_back(ms_since(t));
        SongQuery q;
        q.sort = i % 2 == 0 ? SongSort::kArtist : SongSort::kUploadedAt;
        auto t2 = Steady::now();
        must(catalog.query(q));
        first_list.push_back(ms_since(t2));
        t2 = Steady::now();
        (void)catalog.albums("");
        first_albums.push_back(ms_since(t2));
        q.text = kCommonWord;
        q.sort = SongSort::kTitle;
        t2 = Steady::now();
        must(catalog.query(q));
        first_search.push_back(ms_since(t2));
      }
    }
    add_row({"change_visible", "write until the catalog has it", visible, 0});
    add_row({"first_list_after_change", "first page (artist/uploaded_at)", first_list, 20});
    add_row({"first_albums_after_change", "then albums(\"\")", first_albums, 20});
    add_row({"first_search_after_change", "then search, by title", first_search, 20});
  }

  rows.push_back({"rss_small_delta", std::to_string(mem_songs) + " songs above an empty node", {small_delta}, 50, "MB", true});
  rows.push_back({"rss_big_delta", std::to_string(songs) + " songs above an empty node", {big_delta}, 0, "MB", true});
  rows.push_back({"rss_empty", "empty node", {rss_empty.read / 1024.0}, 0, "MB", true});

  std::printf("\n");
  for (const auto& r : rows) {
    const double v = r.single ? r.samples.at(0) : pct(r.samples, 99);
    const std::string name = r.single ? r.name : r.name + "_p99";
    if (r.goal > 0) {
      std::printf("RESULT %s %.3f %s %g %s\n", name.c_str(), v, r.unit.c_str(), r.goal, v <= r.goal ? "met" : "missed");
    } else {
      std::printf("RESULT %s %.3f %s - info\n", name.c_str(), v, r.unit.c_str());
    }
  }
  if (!keep) {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  } else {
    std::printf("kept %s\n", dir.c_str());
  }
  return 0;
}
