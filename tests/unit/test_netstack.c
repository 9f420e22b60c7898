/* The guest's network stack on the host: frames it builds parse back, replies are right, and
 * every malformed frame is dropped and counted. */
#include <string.h>

#include "tests/harness.h"
#include "vmm/shared/netstack.h"

static const uint8_t peer_mac[6] = {0x02, 0, 0, 0, 0, 1};

static void pair(struct net_if *a, struct net_if *b)
{
	*a = (struct net_if){.mac = {0x52, 0x54, 0, 0, 0, 2}, .ip = 0x0a4d0002};
	*b = (struct net_if){.ip = 0x0a4d0001};
	memcpy(b->mac, peer_mac, 6);
	memcpy(a->peer_mac, b->mac, 6);
	memcpy(b->peer_mac, a->mac, 6);
	a->peer_known = b->peer_known = true;
}

TEST(netstack_round_trips_arp_icmp_and_udp)
{
	struct net_if g, p;
	uint8_t f[2048], r[2048];
	struct net_rx rx;
	pair(&g, &p);
	p.peer_known = false;
	size_t n = net_arp_request(&g, f, sizeof(f), p.ip);
	CHECK(n == ETH_MIN_FRAME);
	CHECK(net_receive(&p, f, n, r, sizeof(r), &rx) == NET_RX_REPLY);
	CHECK(p.peer_known && !memcmp(p.peer_mac, g.mac, 6));
	memset(g.peer_mac, 0, 6);
	CHECK(net_receive(&g, r, rx.reply_len, f, sizeof(f), &rx) == NET_RX_HANDLED);
	CHECK(!memcmp(g.peer_mac, peer_mac, 6));

	n = net_icmp_echo(&g, f, sizeof(f), p.ip, 9, 42, "abcdef", 6);
	CHECK(net_receive(&p, f, n, r, sizeof(r), &rx) == NET_RX_REPLY && rx.icmp_seq == 42);
	CHECK(net_receive(&g, r, rx.reply_len, f, sizeof(f), &rx) == NET_RX_ICMP_REPLY);
	CHECK(rx.icmp_id == 9 && rx.icmp_seq == 42 && rx.payload_len == 6 &&
	      !memcmp(rx.payload, "abcdef", 6));

	n = net_udp(&g, f, sizeof(f), p.ip, 1234, 7, "hello", 5);
	CHECK(net_receive(&p, f, n, r, sizeof(r), &rx) == NET_RX_UDP);
	CHECK(rx.src_ip == g.ip && rx.src_port == 1234 && rx.dst_port == 7 && rx.payload_len == 5);
	CHECK(net_udp(&g, f, 100, p.ip, 1, 2, f, 1000) == 0);	    /* does not fit: refused */
	CHECK(net_udp(&g, f, sizeof(f), p.ip, 1, 2, f, 1500) == 0); /* above the MTU */
	CHECK(g.rx_bad == 0 && p.rx_bad == 0);
}

TEST(netstack_drops_and_counts_malformed_frames)
{
	struct net_if g, p;
	uint8_t good[2048], f[2048], r[2048];
	struct net_rx rx;
	pair(&g, &p);
	size_t n = net_udp(&g, good, sizeof(good), p.ip, 1234, 7, "payload!", 8);
	struct {
		const char *what;
		size_t off; /* byte to change, or the length to cut to when val is -1 */
		int val;
	} cases[] = {
	    {"truncated ethernet", 10, -1},
	    {"truncated ip header", ETH_HLEN + 10, -1},
	    {"ip version 6", ETH_HLEN, 0x65},
	    {"ihl below 5", ETH_HLEN, 0x44},
	    {"ip checksum", ETH_HLEN + 10, 0x00},
	    {"total length beyond frame", ETH_HLEN + 2, 0x09},
	    {"udp checksum", ETH_HLEN + IP_HLEN + 6, 0x00},
	    {"udp length beyond ip", ETH_HLEN + IP_HLEN + 4, 0x08},
	    {"arp bad hardware size", ETH_HLEN + 4, 0},
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = n;
		if (!strcmp(cases[i].what, "arp bad hardware size"))
			len = net_arp_request(&g, good + 0, sizeof(good), p.ip);
		memcpy(f, good, len);
		if (cases[i].val < 0)
			len = cases[i].off;
		else
			f[cases[i].off] ^= (uint8_t)(cases[i].val ? cases[i].val : 0x5a);
		uint64_t before = p.rx_bad;
		CHECKF(net_receive(&p, f, len, r, sizeof(r), &rx) == NET_RX_DROP, "%s accepted",
		       cases[i].what);
		CHECKF(p.rx_bad == before + 1, "%s not counted", cases[i].what);
		if (!strcmp(cases[i].what, "arp bad hardware size"))
			n = net_udp(&g, good, sizeof(good), p.ip, 1234, 7, "payload!", 8);
	}
	/* Not for us: dropped quietly, not counted as bad. */
	n = net_udp(&g, good, sizeof(good), 0x0a4d0009, 1, 2, "x", 1);
	CHECK(net_receive(&p, good, n, r, sizeof(r), &rx) == NET_RX_DROP);
	good[0] ^= 1; /* another MAC */
	CHECK(net_receive(&p, good, n, r, sizeof(r), &rx) == NET_RX_DROP);
	CHECK(p.rx_bad == sizeof(cases) / sizeof(cases[0]));
}

/* A switch is charged the share of each gap sent in its window, nothing outside it. */
TEST(netstack_loss_share_charges_only_the_window)
{
	CHECK(net_loss_share(100, 1000, 2000, 0, 0) == 0);	  /* no window */
	CHECK(net_loss_share(100, 1000, 2000, 500, 0) == 100);	  /* open, covers the gap */
	CHECK(net_loss_share(100, 1000, 2000, 1500, 0) == 50);	  /* open from the middle */
	CHECK(net_loss_share(100, 1000, 2000, 1200, 1700) == 50); /* inside the gap */
	CHECK(net_loss_share(100, 1000, 2000, 2000, 3000) == 0);  /* after it */
	CHECK(net_loss_share(100, 1000, 2000, 100, 1000) == 0);	  /* before it */
	CHECK(net_loss_share(3, 1000, 2000, 1000, 1500) == 2);	  /* rounded */
	CHECK(net_loss_share(100, 2000, 1000, 500, 0) == 0);	  /* times out of order */
	CHECK(net_loss_share(100, 1000, 1000, 500, 0) == 0);	  /* no span */
	/* a long gap and a wild sequence number: no overflow, still the share */
	uint64_t s = 10ull << 40;
	CHECK(net_loss_share(1000, 0 + 1, s + 1, s / 2 + 1, 0) == 500);
	CHECK(net_loss_share(UINT64_MAX, 1, 3, 2, 0) <= UINT64_MAX / 2 + 1);
	CHECK(net_loss_share(UINT64_MAX, 1, 3, 1, 0) > (UINT64_MAX >> 1));
}

/* An ICMP echo read from a frame's head: its type, id, sequence and stamp where the bytes are
 * there; nothing read past len; not an echo, a fragment or a short header: no. */
TEST(netstack_echo_peek_reads_only_what_is_there)
{
	struct net_if g = {
	    .mac = {2, 0, 0, 0, 0, 2}, .ip = 0x0a4d0002, .peer_mac = {2, 0, 0, 0, 0, 1}};
	uint8_t f[128];
	uint64_t stamp = 0x1122334455667788ull;
	size_t n = net_icmp_echo(&g, f, sizeof(f), 0x0a4d0001, 0x5653, 42, &stamp, 8);
	struct net_echo e;
	REQUIRE(n >= 14 + 20 + 8 + 8);
	CHECK(net_echo_peek(f, n, &e) && e.type == 8 && e.id == 0x5653 && e.seq == 42);
	CHECK(e.stamped && e.stamp == stamp && e.src_ip == 0x0a4d0002 && e.dst_ip == 0x0a4d0001);
	CHECK(net_echo_peek(f, 14 + 20 + 8 + 7, &e) && !e.stamped); /* the stamp is cut */
	CHECK(!net_echo_peek(f, 14 + 20 + 7, &e));		    /* the ICMP header is cut */
	n = net_icmp_echo(&g, f, sizeof(f), 0x0a4d0001, 1, 2, "abc", 3);
	CHECK(net_echo_peek(f, n, &e) && !e.stamped); /* its IP length says 3 bytes follow */
	f[14 + 6] = 0x20; /* more fragments, offset 0: still the first */
	CHECK(net_echo_peek(f, n, &e));
	f[14 + 7] = 1; /* offset 8: not the start of it */
	CHECK(!net_echo_peek(f, n, &e));
	f[14 + 6] = f[14 + 7] = 0;
	f[14] = 0x44; /* IHL 16 bytes */
	CHECK(!net_echo_peek(f, n, &e));
	f[14] = 0x4f; /* IHL 60 bytes: past the frame */
	CHECK(!net_echo_peek(f, n, &e));
	f[14] = 0x45;
	f[14 + 20] = 3; /* destination unreachable */
	CHECK(!net_echo_peek(f, n, &e));
	n = net_udp(&g, f, sizeof(f), 0x0a4d0001, 1, 9, "12345678", 8);
	CHECK(!net_echo_peek(f, n, &e));
}
