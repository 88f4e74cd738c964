// The one translation unit that compiles Boost.JSON and Boost.URL
// (Debian ships them header-only for 1.81).
#include <boost/json/src.hpp>
#include <boost/url/src.hpp>
