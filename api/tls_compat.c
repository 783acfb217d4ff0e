/* libssl compatibility object for civetweb <= 1.15 on OpenSSL 3.
 *
 * civetweb loads OpenSSL at run time: dlopen("libssl.so") and
 * dlopen("libcrypto.so"), then dlsym() of every function it uses into a
 * table. OpenSSL 3 turned SSL_get_peer_certificate into a macro for
 * SSL_get1_peer_certificate, so libssl.so.3 no longer exports the name, the
 * table entry stays NULL and civetweb calls it after each TLS handshake.
 *
 * This object's DT_SONAME is "libssl.so" and it links the real libssl.so.3
 * and libcrypto.so.3. The agent dlopen()s it by absolute path (RTLD_GLOBAL)
 * before civetweb starts TLS; glibc then answers civetweb's
 * dlopen("libssl.so") with this already loaded object (matched by SONAME),
 * and dlsym() on it searches its dependencies too: every function resolves
 * to OpenSSL's own, the missing one to the forwarder below. It is installed
 * under a private directory with a name of its own, never as libssl.so on
 * the library path. See ApiServer::configure() in api/server.cc. */
#include <openssl/opensslv.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#if OPENSSL_VERSION_NUMBER < 0x30000000L
#error "only OpenSSL 3 needs this object (1.1 exports SSL_get_peer_certificate itself)"
#endif

/* OpenSSL 3's <openssl/ssl.h> defines the old name as a macro. */
#undef SSL_get_peer_certificate

__attribute__((visibility("default"))) X509 *SSL_get_peer_certificate(const SSL *s);

/* The same semantics as OpenSSL 3's macro: a new reference, which civetweb
 * releases with X509_free (ssl_get_client_cert_info). */
X509 *SSL_get_peer_certificate(const SSL *s) { return SSL_get1_peer_certificate(s); }
