// Linked into every fuzz target. The parsers are built with recoverable
// UBSan checks (plain -fsanitize=undefined), which only print; halting turns
// undefined behaviour into a crash that libFuzzer records and minimizes.
extern "C" const char* __ubsan_default_options() { return "halt_on_error=1:print_stacktrace=1"; }
