/* libcrypto counterpart of api/tls_compat.c: DT_SONAME "libcrypto.so", a
 * dependency on the real libcrypto.so.3 and nothing else. civetweb also
 * does dlopen("libcrypto.so"), a name only the libssl-dev symlink carries;
 * with this object loaded by the agent, glibc answers that dlopen with it
 * (matched by SONAME) and dlsym() finds the functions in libcrypto.so.3, so
 * the agent runs with the runtime packages alone (libssl3). */
#include <openssl/crypto.h>

/* A reference into libcrypto, so that the link keeps it as a dependency
 * (the build links with --as-needed). */
__attribute__((visibility("default"))) unsigned long wirescope_crypto_compat_version(void);

unsigned long wirescope_crypto_compat_version(void) { return OpenSSL_version_num(); }
