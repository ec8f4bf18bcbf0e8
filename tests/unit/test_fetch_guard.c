/* test_fetch_guard.c: which addresses a download may connect to
 * (media/fetch_guard.c): the classifier over a table of IPv4 and IPv6
 * addresses (range edges, IPv4-mapped, NAT64 and 6to4 forms), the allow-list
 * parser, and the policy that combines them.  The download itself, refused
 * and allowed, is in test_media_load.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "media/fetch_guard.h"

/* The class of a textual address (either family). */
static enum media_addr_class classify(const char *s)
{
	unsigned char a[16];

	if (inet_pton(AF_INET, s, a) == 1)
		return media_addr_classify(AF_INET, a);
	if (inet_pton(AF_INET6, s, a) == 1)
		return media_addr_classify(AF_INET6, a);
	fail_msg("\"%s\" is not an address", s);
	return MEDIA_ADDR_PUBLIC;
}

static bool allowed(const struct media_fetch_policy *p, const char *s)
{
	unsigned char a[16];

	if (inet_pton(AF_INET, s, a) == 1)
		return media_fetch_addr_allowed(p, AF_INET, a, NULL);
	if (inet_pton(AF_INET6, s, a) == 1)
		return media_fetch_addr_allowed(p, AF_INET6, a, NULL);
	fail_msg("\"%s\" is not an address", s);
	return true;
}

static const struct {
	const char *addr;
	enum media_addr_class cls;
} table[] = {
	/* IPv4: each range, its first and last address, and the public ones
	 * right outside it. */
	{ "0.0.0.0", MEDIA_ADDR_UNSPECIFIED },
	{ "0.255.255.255", MEDIA_ADDR_UNSPECIFIED },
	{ "1.0.0.0", MEDIA_ADDR_PUBLIC },
	{ "8.8.8.8", MEDIA_ADDR_PUBLIC },
	{ "9.255.255.255", MEDIA_ADDR_PUBLIC },
	{ "10.0.0.0", MEDIA_ADDR_PRIVATE },
	{ "10.0.0.5", MEDIA_ADDR_PRIVATE },
	{ "10.255.255.255", MEDIA_ADDR_PRIVATE },
	{ "11.0.0.0", MEDIA_ADDR_PUBLIC },
	{ "100.63.255.255", MEDIA_ADDR_PUBLIC },
	{ "100.64.0.0", MEDIA_ADDR_SHARED },
	{ "100.127.255.255", MEDIA_ADDR_SHARED },
	{ "100.128.0.0", MEDIA_ADDR_PUBLIC },
	{ "126.255.255.255", MEDIA_ADDR_PUBLIC },
	{ "127.0.0.1", MEDIA_ADDR_LOOPBACK },
	{ "127.255.255.254", MEDIA_ADDR_LOOPBACK },
	{ "128.0.0.0", MEDIA_ADDR_PUBLIC },
	{ "169.253.255.255", MEDIA_ADDR_PUBLIC },
	{ "169.254.0.0", MEDIA_ADDR_LINK_LOCAL },
	{ "169.254.169.254", MEDIA_ADDR_LINK_LOCAL },
	{ "169.254.255.255", MEDIA_ADDR_LINK_LOCAL },
	{ "169.255.0.0", MEDIA_ADDR_PUBLIC },
	{ "172.15.255.255", MEDIA_ADDR_PUBLIC },
	{ "172.16.0.0", MEDIA_ADDR_PRIVATE },
	{ "172.31.255.255", MEDIA_ADDR_PRIVATE },
	{ "172.32.0.0", MEDIA_ADDR_PUBLIC },
	{ "192.0.0.8", MEDIA_ADDR_RESERVED },
	{ "192.0.1.1", MEDIA_ADDR_PUBLIC },
	{ "192.0.2.1", MEDIA_ADDR_DOCUMENTATION },
	{ "192.88.99.1", MEDIA_ADDR_RESERVED },
	{ "192.167.255.255", MEDIA_ADDR_PUBLIC },
	{ "192.168.0.0", MEDIA_ADDR_PRIVATE },
	{ "192.168.1.1", MEDIA_ADDR_PRIVATE },
	{ "192.168.255.255", MEDIA_ADDR_PRIVATE },
	{ "192.169.0.0", MEDIA_ADDR_PUBLIC },
	{ "198.17.255.255", MEDIA_ADDR_PUBLIC },
	{ "198.18.0.0", MEDIA_ADDR_RESERVED },
	{ "198.19.255.255", MEDIA_ADDR_RESERVED },
	{ "198.20.0.0", MEDIA_ADDR_PUBLIC },
	{ "198.51.100.7", MEDIA_ADDR_DOCUMENTATION },
	{ "203.0.113.9", MEDIA_ADDR_DOCUMENTATION },
	{ "223.255.255.255", MEDIA_ADDR_PUBLIC },
	{ "224.0.0.1", MEDIA_ADDR_MULTICAST },
	{ "239.255.255.255", MEDIA_ADDR_MULTICAST },
	{ "240.0.0.1", MEDIA_ADDR_RESERVED },
	{ "255.255.255.254", MEDIA_ADDR_RESERVED },
	{ "255.255.255.255", MEDIA_ADDR_BROADCAST },
	/* IPv6 */
	{ "::", MEDIA_ADDR_UNSPECIFIED },
	{ "::1", MEDIA_ADDR_LOOPBACK },
	{ "::2", MEDIA_ADDR_RESERVED },
	{ "::127.0.0.1", MEDIA_ADDR_RESERVED },           /* IPv4-compatible, deprecated */
	{ "fe80::1", MEDIA_ADDR_LINK_LOCAL },
	{ "febf:ffff::1", MEDIA_ADDR_LINK_LOCAL },
	{ "fec0::1", MEDIA_ADDR_PRIVATE },                /* site-local, deprecated */
	{ "fc00::1", MEDIA_ADDR_PRIVATE },
	{ "fd12:3456:789a::1", MEDIA_ADDR_PRIVATE },
	{ "fbff:ffff::1", MEDIA_ADDR_RESERVED },
	{ "ff02::1", MEDIA_ADDR_MULTICAST },
	{ "ff05::1:3", MEDIA_ADDR_MULTICAST },
	{ "2001:db8::1", MEDIA_ADDR_DOCUMENTATION },
	{ "3fff::1", MEDIA_ADDR_DOCUMENTATION },
	{ "3fff:1000::1", MEDIA_ADDR_PUBLIC },
	{ "2001::1", MEDIA_ADDR_RESERVED },               /* Teredo */
	{ "2001:1ff:ffff::1", MEDIA_ADDR_RESERVED },
	{ "2001:200::1", MEDIA_ADDR_PUBLIC },
	{ "2606:4700:4700::1111", MEDIA_ADDR_PUBLIC },
	{ "2a00:1450:4001:80b::200e", MEDIA_ADDR_PUBLIC },
	{ "1fff:ffff::1", MEDIA_ADDR_RESERVED },          /* outside 2000::/3 */
	{ "4000::1", MEDIA_ADDR_RESERVED },
	{ "100::1", MEDIA_ADDR_RESERVED },                /* discard */
	/* IPv4 inside IPv6: judged by the IPv4 address. */
	{ "::ffff:127.0.0.1", MEDIA_ADDR_LOOPBACK },
	{ "::ffff:7f00:1", MEDIA_ADDR_LOOPBACK },
	{ "::ffff:10.1.2.3", MEDIA_ADDR_PRIVATE },
	{ "::ffff:169.254.169.254", MEDIA_ADDR_LINK_LOCAL },
	{ "::ffff:100.64.0.1", MEDIA_ADDR_SHARED },
	{ "::ffff:0.0.0.0", MEDIA_ADDR_UNSPECIFIED },
	{ "::ffff:255.255.255.255", MEDIA_ADDR_BROADCAST },
	{ "::ffff:8.8.8.8", MEDIA_ADDR_PUBLIC },
	{ "64:ff9b::a9fe:a9fe", MEDIA_ADDR_LINK_LOCAL },  /* NAT64 of 169.254.169.254 */
	{ "64:ff9b::808:808", MEDIA_ADDR_PUBLIC },
	{ "2002:c0a8:101::1", MEDIA_ADDR_PRIVATE },       /* 6to4 of 192.168.1.1 */
	{ "2002:7f00:1::", MEDIA_ADDR_LOOPBACK },
	{ "2002:808:808::1", MEDIA_ADDR_PUBLIC },
};

static void test_classify_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		enum media_addr_class got = classify(table[i].addr);

		if (got != table[i].cls)
			fail_msg("%s: %s, expected %s", table[i].addr, media_addr_class_name(got),
				 media_addr_class_name(table[i].cls));
	}
	assert_int_equal(media_addr_classify(AF_UNIX, "x"), MEDIA_ADDR_RESERVED);
	assert_string_equal(media_addr_class_name(MEDIA_ADDR_PRIVATE), "a private address");
	assert_string_equal(media_addr_class_name(MEDIA_ADDR_LINK_LOCAL), "a link-local address");
}

static void test_cidr_parse(void **state)
{
	static const char *const bad[] = {
		"", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/8x", "10.0.0.0/0008",
		"10.0.0", "10.0.0.256", "localhost", "::1/129", "[::1]", "fd00::/ 8", "10.0.0.0 /8",
		"10.0.0.0/8/8", "1.2.3.4.5",
	};
	struct media_cidr c;

	(void)state;
	assert_int_equal(media_cidr_parse("10.0.0.0/8", &c), 0);
	assert_int_equal(c.prefix, 96 + 8);
	assert_int_equal(c.addr[10], 0xff);
	assert_int_equal(c.addr[12], 10);
	assert_int_equal(media_cidr_parse("192.168.1.7", &c), 0);
	assert_int_equal(c.prefix, 128);
	assert_int_equal(media_cidr_parse("10.1.2.3/8", &c), 0);   /* host bits dropped */
	assert_int_equal(c.addr[13] | c.addr[14] | c.addr[15], 0);
	assert_int_equal(media_cidr_parse("fd00::/8", &c), 0);
	assert_int_equal(c.prefix, 8);
	assert_int_equal(media_cidr_parse("::1", &c), 0);
	assert_int_equal(c.prefix, 128);
	assert_int_equal(media_cidr_parse("0.0.0.0/0", &c), 0);
	assert_int_equal(c.prefix, 96);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (media_cidr_parse(bad[i], &c) == 0)
			fail_msg("\"%s\" parsed as a network", bad[i]);
}

static void test_policy(void **state)
{
	struct media_fetch_policy p;
	struct err e;
	json_t *j;

	(void)state;
	/* The default: public addresses only. */
	assert_true(allowed(NULL, "93.184.216.34"));
	assert_true(allowed(NULL, "2606:4700:4700::1111"));
	assert_false(allowed(NULL, "127.0.0.1"));
	assert_false(allowed(NULL, "::1"));
	assert_false(allowed(NULL, "::ffff:127.0.0.1"));
	assert_false(allowed(NULL, "169.254.169.254"));
	assert_int_equal(media_fetch_policy_from_json(NULL, &p, &e), 0);
	assert_false(allowed(&p, "10.0.0.5"));

	/* An allow-list: those networks, an IPv4 one in its mapped form too. */
	j = json_pack("{s:b, s:[s, s, s]}", "allow_private", 0, "allow", "10.20.0.0/16", "127.0.0.1", "fd00:1::/64");
	assert_int_equal(media_fetch_policy_from_json(j, &p, &e), 0);
	json_decref(j);
	assert_int_equal(p.n_allow, 3);
	assert_true(allowed(&p, "10.20.3.4"));
	assert_true(allowed(&p, "::ffff:10.20.3.4"));
	assert_false(allowed(&p, "10.21.0.1"));
	assert_true(allowed(&p, "127.0.0.1"));
	assert_false(allowed(&p, "127.0.0.2"));
	assert_false(allowed(&p, "::1"));
	assert_true(allowed(&p, "fd00:1::7"));
	assert_false(allowed(&p, "fd00:2::7"));
	assert_false(allowed(&p, "169.254.169.254"));
	assert_true(allowed(&p, "8.8.8.8"));

	/* allow_private: everything, as before the guard. */
	j = json_pack("{s:b}", "allow_private", 1);
	assert_int_equal(media_fetch_policy_from_json(j, &p, &e), 0);
	json_decref(j);
	assert_true(allowed(&p, "169.254.169.254"));
	assert_true(allowed(&p, "::1"));

	/* What the configuration may not say. */
	j = json_pack("{s:[s, s]}", "allow", "10.0.0.0/8", "10.0.0.0/99");
	assert_int_equal(media_fetch_policy_from_json(j, &p, &e), -1);
	json_decref(j);
	assert_int_equal(e.code, ERR_CONFIG);
	assert_non_null(strstr(e.msg, "media.fetch.allow[1]"));
	j = json_pack("{s:s}", "allow_privat", "yes");
	assert_int_equal(media_fetch_policy_from_json(j, &p, &e), -1);
	json_decref(j);
	assert_non_null(strstr(e.msg, "media.fetch.allow_privat: unknown key"));
	j = json_pack("{s:s}", "allow_private", "yes");
	assert_int_equal(media_fetch_policy_from_json(j, &p, &e), -1);
	json_decref(j);
	assert_non_null(strstr(e.msg, "media.fetch.allow_private"));
	j = json_pack("{s:s}", "allow", "10.0.0.0/8");
	assert_int_equal(media_fetch_policy_from_json(j, &p, &e), -1);
	json_decref(j);
	assert_non_null(strstr(e.msg, "media.fetch.allow: expected an array"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify_table),
		cmocka_unit_test(test_cidr_parse),
		cmocka_unit_test(test_policy),
	};

	return cmocka_run_group_tests_name("fetch_guard", tests, NULL, NULL);
}
