// The one translation unit that compiles Asio, Asio SSL and Beast (separate compilation keeps
// these templates out of every other file; see BOOST_ASIO_SEPARATE_COMPILATION in CMake).
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
