// libFuzzer's driver, exported by the runtime that `-sanitize=fuzzer` links. FuzzSupport.run calls it from the
// targets' own `main`: SwiftPM gives every executable one, so libFuzzer's `main` is not the entry point.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
