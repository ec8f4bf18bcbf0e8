/* fetch_guard.c: the address classifier and allow-list of downloads (see
 * fetch_guard.h). */
#include "media/fetch_guard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* One IPv4 range: a.b.c.d/prefix (host order) and its class. */
struct v4_range {
	uint32_t net;
	unsigned prefix;
	enum media_addr_class cls;
};

#define V4(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))

/* Most specific first where ranges nest (the broadcast address in 240/4). */
static const struct v4_range v4_ranges[] = {
	{ V4(255, 255, 255, 255), 32, MEDIA_ADDR_BROADCAST },
	{ V4(0, 0, 0, 0), 8, MEDIA_ADDR_UNSPECIFIED },
	{ V4(10, 0, 0, 0), 8, MEDIA_ADDR_PRIVATE },
	{ V4(100, 64, 0, 0), 10, MEDIA_ADDR_SHARED },
	{ V4(127, 0, 0, 0), 8, MEDIA_ADDR_LOOPBACK },
	{ V4(169, 254, 0, 0), 16, MEDIA_ADDR_LINK_LOCAL },
	{ V4(172, 16, 0, 0), 12, MEDIA_ADDR_PRIVATE },
	{ V4(192, 0, 0, 0), 24, MEDIA_ADDR_RESERVED },        /* IETF protocol assignments */
	{ V4(192, 0, 2, 0), 24, MEDIA_ADDR_DOCUMENTATION },
	{ V4(192, 88, 99, 0), 24, MEDIA_ADDR_RESERVED },      /* 6to4 relay anycast */
	{ V4(192, 168, 0, 0), 16, MEDIA_ADDR_PRIVATE },
	{ V4(198, 18, 0, 0), 15, MEDIA_ADDR_RESERVED },       /* benchmarking */
	{ V4(198, 51, 100, 0), 24, MEDIA_ADDR_DOCUMENTATION },
	{ V4(203, 0, 113, 0), 24, MEDIA_ADDR_DOCUMENTATION },
	{ V4(224, 0, 0, 0), 4, MEDIA_ADDR_MULTICAST },
	{ V4(240, 0, 0, 0), 4, MEDIA_ADDR_RESERVED },
};

static enum media_addr_class classify_v4(uint32_t a)
{
	for (size_t i = 0; i < sizeof v4_ranges / sizeof v4_ranges[0]; i++) {
		const struct v4_range *r = &v4_ranges[i];
		uint32_t mask = r->prefix ? ~(uint32_t)0 << (32 - r->prefix) : 0;

		if ((a & mask) == r->net)
			return r->cls;
	}
	return MEDIA_ADDR_PUBLIC;
}

static uint32_t v4_at(const unsigned char *p)
{
	return V4(p[0], p[1], p[2], p[3]);
}

/* Whether the first prefix bits of a and b are equal. */
static bool prefix_equal(const unsigned char *a, const unsigned char *b, unsigned prefix)
{
	unsigned whole = prefix / 8, rest = prefix % 8;

	if (memcmp(a, b, whole) != 0)
		return false;
	if (!rest)
		return true;
	return ((a[whole] ^ b[whole]) & (0xffu << (8 - rest)) & 0xffu) == 0;
}

static const unsigned char mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
static const unsigned char nat64_prefix[12] = { 0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0 };

static enum media_addr_class classify_v6(const unsigned char *a)
{
	static const unsigned char zero[16];

	if (memcmp(a, zero, 16) == 0)
		return MEDIA_ADDR_UNSPECIFIED;
	if (memcmp(a, zero, 15) == 0 && a[15] == 1)
		return MEDIA_ADDR_LOOPBACK;
	/* An IPv4 address inside: judged by it (a mapped ::ffff:127.0.0.1
	 * reaches 127.0.0.1; a NAT64 or 6to4 gateway forwards to it). */
	if (memcmp(a, mapped_prefix, 12) == 0 || memcmp(a, nat64_prefix, 12) == 0)
		return classify_v4(v4_at(a + 12));
	if (a[0] == 0x20 && a[1] == 0x02)
		return classify_v4(v4_at(a + 2));
	if (a[0] == 0xff)
		return MEDIA_ADDR_MULTICAST;
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
		return MEDIA_ADDR_LINK_LOCAL;
	if ((a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) || (a[0] & 0xfe) == 0xfc)
		return MEDIA_ADDR_PRIVATE;   /* site-local (deprecated), unique local */
	if ((a[0] & 0xe0) != 0x20)
		return MEDIA_ADDR_RESERVED;  /* outside global unicast 2000::/3 */
	if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8)
		return MEDIA_ADDR_DOCUMENTATION;
	if (a[0] == 0x3f && a[1] == 0xff && (a[2] & 0xf0) == 0)
		return MEDIA_ADDR_DOCUMENTATION;
	if (a[0] == 0x20 && a[1] == 0x01 && (a[2] & 0xfe) == 0)
		return MEDIA_ADDR_RESERVED;  /* 2001::/23: Teredo, benchmarking, ORCHID */
	return MEDIA_ADDR_PUBLIC;
}

enum media_addr_class media_addr_classify(int family, const void *addr)
{
	if (family == AF_INET)
		return classify_v4(v4_at(addr));
	if (family == AF_INET6)
		return classify_v6(addr);
	return MEDIA_ADDR_RESERVED;
}

const char *media_addr_class_name(enum media_addr_class c)
{
	switch (c) {
	case MEDIA_ADDR_PUBLIC: return "a public address";
	case MEDIA_ADDR_UNSPECIFIED: return "an unspecified address";
	case MEDIA_ADDR_LOOPBACK: return "a loopback address";
	case MEDIA_ADDR_PRIVATE: return "a private address";
	case MEDIA_ADDR_SHARED: return "a shared (carrier-grade NAT) address";
	case MEDIA_ADDR_LINK_LOCAL: return "a link-local address";
	case MEDIA_ADDR_MULTICAST: return "a multicast address";
	case MEDIA_ADDR_BROADCAST: return "the broadcast address";
	case MEDIA_ADDR_DOCUMENTATION: return "a documentation address";
	case MEDIA_ADDR_RESERVED: return "a reserved address";
	}
	return "a reserved address";
}

int media_cidr_parse(const char *s, struct media_cidr *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	unsigned max, prefix;
	unsigned char a[16];

	memset(out, 0, sizeof *out);
	if (n == 0 || n >= sizeof host)
		return -1;
	memcpy(host, s, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, a + 12) == 1) {
		memcpy(a, mapped_prefix, 12);
		max = 32;
	} else if (inet_pton(AF_INET6, host, a) == 1) {
		max = 128;
	} else {
		return -1;
	}
	prefix = max;
	if (slash) {
		const char *p = slash + 1;

		if (!*p || strlen(p) > 3)
			return -1;
		prefix = 0;
		for (; *p; p++) {
			if (*p < '0' || *p > '9')
				return -1;
			prefix = prefix * 10 + (unsigned)(*p - '0');
		}
		if (prefix > max)
			return -1;
	}
	out->prefix = prefix + (128 - max);
	for (unsigned bit = 0; bit < 128; bit++)
		if (bit >= out->prefix)
			a[bit / 8] &= (unsigned char)~(0x80u >> (bit % 8));
	memcpy(out->addr, a, 16);
	return 0;
}

int media_fetch_policy_from_json(const json_t *fetch, struct media_fetch_policy *out,
				 struct err *e)
{
	const json_t *ap, *allow, *v;
	const char *k;
	size_t i;

	memset(out, 0, sizeof *out);
	if (!fetch || json_is_null(fetch))
		return 0;
	if (!json_is_object(fetch))
		return err_set(e, ERR_CONFIG, "media.fetch: expected an object");
	json_object_foreach((json_t *)fetch, k, v)
		if (strcmp(k, "allow_private") != 0 && strcmp(k, "allow") != 0)
			return err_set(e, ERR_CONFIG, "media.fetch.%s: unknown key (known keys: allow_private, allow)", k);
	ap = json_object_get(fetch, "allow_private");
	if (ap && !json_is_boolean(ap))
		return err_set(e, ERR_CONFIG, "media.fetch.allow_private: expected true or false");
	out->allow_private = json_is_true(ap);
	allow = json_object_get(fetch, "allow");
	if (!allow || json_is_null(allow))
		return 0;
	if (!json_is_array(allow))
		return err_set(e, ERR_CONFIG, "media.fetch.allow: expected an array of addresses or networks (CIDR)");
	if (json_array_size(allow) > MEDIA_FETCH_ALLOW_MAX)
		return err_set(e, ERR_CONFIG, "media.fetch.allow: %zu entries, at most %d",
			       json_array_size(allow), MEDIA_FETCH_ALLOW_MAX);
	json_array_foreach(allow, i, v) {
		const char *s = json_string_value(v);

		if (!s || media_cidr_parse(s, &out->allow[i]) < 0)
			return err_set(e, ERR_CONFIG, "media.fetch.allow[%zu]: expected an IP address or a network "
				       "such as \"10.0.0.0/8\" or \"fd00::/8\"", i);
		out->n_allow = i + 1;
	}
	return 0;
}

bool media_fetch_addr_allowed(const struct media_fetch_policy *policy, int family,
			      const void *addr, enum media_addr_class *cls)
{
	enum media_addr_class c = media_addr_classify(family, addr);
	unsigned char a[16];

	if (cls)
		*cls = c;
	if (c == MEDIA_ADDR_PUBLIC || (policy && policy->allow_private))
		return true;
	if (!policy || (family != AF_INET && family != AF_INET6))
		return false;
	if (family == AF_INET) {
		memcpy(a, mapped_prefix, 12);
		memcpy(a + 12, addr, 4);
	} else {
		memcpy(a, addr, 16);
	}
	for (size_t i = 0; i < policy->n_allow; i++)
		if (prefix_equal(a, policy->allow[i].addr, policy->allow[i].prefix))
			return true;
	return false;
}
