/* fetch_guard.h: which addresses a download may connect to (the SSRF guard).
 *
 * A product photo's URL comes from a catalog record: untrusted data.  Left
 * alone it makes a worker fetch http://169.254.169.254/ (cloud metadata),
 * http://127.0.0.1:5432/ or any host of the internal network and keep what
 * answered.  media_fetch() checks every address libcurl is about to connect
 * to, after DNS (libcurl's CURLOPT_OPENSOCKETFUNCTION), not the URL's host
 * name: a name that resolves to a private address (or resolves differently
 * the second time: DNS rebinding), a redirect to one and an IP literal are
 * all refused alike, before any byte is sent.
 *
 * Public means none of the IANA special-purpose ranges: for IPv4 0/8, 10/8,
 * 100.64/10, 127/8, 169.254/16, 172.16/12, 192.0.0/24, 192.0.2/24,
 * 192.88.99/24, 192.168/16, 198.18/15, 198.51.100/24, 203.0.113/24, 224/4,
 * 240/4 (255.255.255.255 among them); for IPv6 only global unicast
 * (2000::/3) less 2001::/23 (Teredo and other protocol ranges), 2001:db8::/32
 * (documentation) and 3fff::/20; an address with an IPv4 address inside it
 * (IPv4-mapped ::ffff:0:0/96, NAT64 64:ff9b::/96, 6to4 2002::/16) is judged
 * by that IPv4 address.
 *
 * The configuration opens more ("media": {"fetch": ...}, batch/settings.c):
 * "allow_private": true lets every address through (the behaviour before the
 * guard); "allow": ["10.20.0.0/16", "127.0.0.1", "fd00:1::/64"] lets those
 * networks through.  An IPv4 entry also matches the IPv4-mapped IPv6 form.
 *
 * Proxies: media downloads ignore http_proxy, https_proxy and all_proxy (the
 * guard must see the address the photo comes from; through a proxy it would
 * see only the proxy's, and the proxy would reach whatever the URL names),
 * unless "allow_private" turns the guard off.
 */
#ifndef SKUGEN_MEDIA_FETCH_GUARD_H
#define SKUGEN_MEDIA_FETCH_GUARD_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common/err.h"

enum media_addr_class {
	MEDIA_ADDR_PUBLIC = 0,
	MEDIA_ADDR_UNSPECIFIED,    /* 0.0.0.0/8, :: */
	MEDIA_ADDR_LOOPBACK,       /* 127/8, ::1 */
	MEDIA_ADDR_PRIVATE,        /* RFC 1918, fc00::/7 (ULA), fec0::/10 */
	MEDIA_ADDR_SHARED,         /* 100.64/10: carrier-grade NAT */
	MEDIA_ADDR_LINK_LOCAL,     /* 169.254/16 (cloud metadata), fe80::/10 */
	MEDIA_ADDR_MULTICAST,      /* 224/4, ff00::/8 */
	MEDIA_ADDR_BROADCAST,      /* 255.255.255.255 */
	MEDIA_ADDR_DOCUMENTATION,  /* TEST-NET-1/2/3, 2001:db8::/32, 3fff::/20 */
	MEDIA_ADDR_RESERVED,       /* everything else that is not public */
};

/* The class of an address: family AF_INET with addr a struct in_addr, or
 * AF_INET6 with a struct in6_addr (network byte order, borrowed).  Another
 * family is MEDIA_ADDR_RESERVED. */
enum media_addr_class media_addr_classify(int family, const void *addr);

/* "a private address", "a loopback address", ... (static string). */
const char *media_addr_class_name(enum media_addr_class c);

/* One network of an allow-list.  IPv4 is kept as an IPv4-mapped IPv6
 * address (prefix + 96), so one comparison serves both forms. */
struct media_cidr {
	unsigned char addr[16];
	unsigned prefix;           /* 0..128 */
};

/* "10.0.0.0/8", "192.168.1.7" (/32), "fd00::/8", "::1" (/128).  Host bits
 * under the prefix are ignored.  0, or -1 when s is none of those. */
int media_cidr_parse(const char *s, struct media_cidr *out);

#define MEDIA_FETCH_ALLOW_MAX 64

/* What a download may connect to beyond public addresses.  All zero: public
 * addresses only (the default). */
struct media_fetch_policy {
	bool allow_private;        /* any address at all */
	size_t n_allow;
	struct media_cidr allow[MEDIA_FETCH_ALLOW_MAX];
};

/* Fill *out from {"allow_private": bool, "allow": ["CIDR", ...]} (borrowed;
 * NULL: the default).  ERR_CONFIG naming the key or the entry that is
 * wrong; batch/settings.c has checked the file with located errors already. */
int media_fetch_policy_from_json(const json_t *fetch, struct media_fetch_policy *out,
				 struct err *e);

/* Whether policy (NULL: the default) lets a download connect to addr (as
 * media_addr_classify() takes it); *cls, when not NULL, gets its class. */
bool media_fetch_addr_allowed(const struct media_fetch_policy *policy, int family,
			      const void *addr, enum media_addr_class *cls);

#endif
