/* The network side outlives devices: ports attach, detach and attach again, two at once with
 * the link learning which one receives (the one that sent last), a detached device's watches
 * are gone (and their slots reusable), and frames with no port are counted, not lost silently. On
 * the in-process loopback backend, without a poller thread (calls then run directly). */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tests/harness.h"
#include "vmm/shared/netstack.h"
#include "vmm/net/link.h"
#include "vmm/clock.h"
#include "vmm/gap.h"
#include "vmm/net/net.h"
#include "vmm/control.h"

#include <x86intrin.h>

struct dev {
	unsigned frames, kicks;
};

static void on_rx(void *opaque, const uint8_t *frame, uint32_t len)
{
	((struct dev *)opaque)->frames++;
}
static void on_kick(void *opaque, uint64_t count)
{
	((struct dev *)opaque)->kicks += (unsigned)count;
}

/* The guest's ARP request for the peer, sent through a card's port (owner; NULL: past every
 * port): the loopback peer answers it on the next poll. */
static void ask(struct net *n, void *owner)
{
	static uint8_t f[128];
	struct net_if nif = {.mac = NET_GUEST_MAC, .ip = LINK_GUEST_IP};
	size_t len = net_arp_request(&nif, f, sizeof(f), LINK_PEER_IP);
	struct iovec iov = {f, len};
	REQUIRE(net_port_send(n->be, owner, &iov, 1) == 0);
	n->be->ops->poll(n->be, false, 0);
}

/* A network side on the loopback backend, without a poller thread: calls run directly. */
static bool loopback_net(struct net *n)
{
	memset(n, 0, sizeof(*n));
	n->wake_fd = -1;
	return loopback_create(&n->be) == 0;
}

static void kick(int fd, struct net *n)
{
	uint64_t one = 1;
	CHECK(write(fd, &one, 8) == 8);
	n->be->ops->poll(n->be, false, 0);
}

TEST(netside_attach_detach_and_attach_again)
{
	static struct net n;
	struct dev a = {0}, b = {0};
	REQUIRE(loopback_net(&n));
	int fa = eventfd(0, EFD_NONBLOCK), fb = eventfd(0, EFD_NONBLOCK);
	const struct net_port pa = {.rx = on_rx, .opaque = &a, .mac = NET_GUEST_MAC},
			      pb = {.rx = on_rx, .opaque = &b, .mac = NET_GUEST_MAC};

	/* Many rounds: watch slots come back each time (16 in the table, two used per round). */
	for (int round = 0; round < 40; round++) {
		unsigned a0 = a.frames, b0 = b.frames, ka = a.kicks, kb = b.kicks;
		REQUIRE(net_watch(&n, fa, on_kick, &a) == 0);
		REQUIRE(net_attach(&n, &pa) == 0);
		ask(&n, &a);
		kick(fa, &n);
		CHECK(a.frames == a0 + 1 && a.kicks == ka + 1);
		/* The next card comes up before the old one goes: the old one keeps receiving until
		 * the new one sends, then the link has learnt. */
		REQUIRE(net_watch(&n, fb, on_kick, &b) == 0);
		REQUIRE(net_attach(&n, &pb) == 0);
		/* Room for NET_PORTS: then refused. */
		static struct dev more[NET_PORTS];
		unsigned extra = 0;
		for (; extra < NET_PORTS; extra++)
			if (net_attach(&n, &(struct net_port){.rx = on_rx, .opaque = &more[extra]}))
				break;
		CHECK(extra == NET_PORTS - 2);
		for (unsigned i = 0; i < extra; i++)
			net_detach(&n, &more[i]);
		ask(&n, NULL);
		CHECK(a.frames == a0 + 2 && b.frames == b0);
		uint64_t moves = n.be->st.rx_moves;
		ask(&n, &b);
		CHECK(b.frames == b0 + 1 && a.frames == a0 + 2);
		CHECK(n.be->st.rx_moves == moves + 1);
		net_detach(&n, &a); /* the old one's watches go; b stays attached */
		kick(fa, &n);
		kick(fb, &n);
		CHECK(a.kicks == ka + 1 && b.kicks == kb + 1);
		ask(&n, &b);
		CHECK(b.frames == b0 + 2);
		/* A card that leaves while it receives hands the link to the one that stays. */
		REQUIRE(net_attach(&n, &pa) == 0);
		ask(&n, &a);
		CHECK(a.frames == a0 + 3);
		net_detach(&n, &a);
		ask(&n, NULL);
		CHECK(b.frames == b0 + 3);
		net_detach(&n, &b);
		uint64_t lost = n.be->st.rx_no_port;
		ask(&n, NULL); /* nobody attached: counted */
		CHECK(n.be->st.rx_no_port == lost + 1 && a.frames == a0 + 3 && b.frames == b0 + 3);
		uint64_t drain;
		if (read(fa, &drain, 8) < 0 || read(fb, &drain, 8) < 0)
			drain = 0;
	}
	unsigned used = 0;
	for (unsigned i = 0; i < NET_WATCH_MAX; i++)
		used += n.be->watch[i].used;
	CHECK(used == 0);
	n.be->ops->destroy(n.be);
	close(fa);
	close(fb);
}

/* Several guests on one link: the backend is a learning switch in front of it. A unicast to
 * another guest's MAC goes port to port and never reaches the link; a broadcast reaches the link
 * and every other guest; the link's frames go to their MAC's port, or to everyone when no port
 * has the MAC; two cards of one guest still learn which one receives. */
TEST(netside_switches_frames_between_guests_and_the_link)
{
	static struct net n;
	struct dev a = {0}, b = {0}, b2 = {0};
	REQUIRE(loopback_net(&n));
	struct net_port pa = {.rx = on_rx, .opaque = &a}, pb = {.rx = on_rx, .opaque = &b},
			pb2 = {.rx = on_rx, .opaque = &b2};
	net_guest_mac(0, pa.mac);
	net_guest_mac(1, pb.mac);
	memcpy(pb2.mac, pb.mac, 6);
	CHECK(memcmp(pa.mac, pb.mac, 6) != 0);
	REQUIRE(net_attach(&n, &pa) == 0);
	REQUIRE(net_attach(&n, &pb) == 0);

	/* a -> b: switched, the link sees nothing. */
	static uint8_t f[128];
	struct net_if nif = {.ip = net_guest_ip(0)};
	memcpy(nif.mac, pa.mac, 6);
	memcpy(nif.peer_mac, pb.mac, 6);
	size_t len = net_udp(&nif, f, sizeof(f), net_guest_ip(1), 40000, 9, "12345678", 8);
	struct iovec udp = {f, len};
	uint64_t tx0 = n.be->st.tx_frames + n.be->st.submits;
	REQUIRE(net_port_send(n.be, &a, &udp, 1) == 0);
	n.be->ops->poll(n.be, false, 0);
	CHECK(b.frames == 1 && a.frames == 0);
	CHECK(n.be->st.switched == 1);
	CHECK(n.be->st.tx_frames + n.be->st.submits == tx0);

	/* a's ARP request (a broadcast): to the link, whose peer answers a alone, and to b. */
	size_t alen = net_arp_request(&nif, f, sizeof(f), LINK_PEER_IP);
	struct iovec arp = {f, alen};
	REQUIRE(net_port_send(n.be, &a, &arp, 1) == 0);
	n.be->ops->poll(n.be, false, 0);
	CHECK(b.frames == 2 && a.frames == 1);

	/* A unicast from the link to a MAC nobody has: every guest's card sees it. */
	uint8_t odd[60] = {0x52, 0x54, 0, 0x99, 0x99, 0x99, 2, 0, 0, 0, 0, 1, 0x08, 0x00};
	net_backend_deliver(n.be, odd, sizeof(odd));
	CHECK(a.frames == 2 && b.frames == 3);

	/* b's second card (a live switch): b keeps receiving until b2 sends. */
	REQUIRE(net_attach(&n, &pb2) == 0);
	memcpy(odd, pb.mac, 6);
	net_backend_deliver(n.be, odd, sizeof(odd));
	CHECK(b.frames == 4 && b2.frames == 0 && a.frames == 2);
	struct net_if nb = {.ip = net_guest_ip(1)};
	memcpy(nb.mac, pb.mac, 6);
	memcpy(nb.peer_mac, pa.mac, 6);
	len = net_udp(&nb, f, sizeof(f), net_guest_ip(0), 40000, 9, "12345678", 8);
	udp.iov_len = len;
	REQUIRE(net_port_send(n.be, &b2, &udp, 1) == 0); /* b2 -> a, switched; b2 learnt */
	CHECK(a.frames == 3 && n.be->st.switched == 2);
	net_backend_deliver(n.be, odd, sizeof(odd));
	CHECK(b2.frames == 1 && b.frames == 4);
	net_detach(&n, &b2); /* b2 goes while it receives: b receives again */
	net_backend_deliver(n.be, odd, sizeof(odd));
	CHECK(b.frames == 5);
	net_detach(&n, &b);
	net_detach(&n, &a);
	n.be->ops->destroy(n.be);
}

/* The VMM's view of a switch's blackout: the longest gap between the guest's IPv4 frames that
 * overlaps the window, ARP not counted, final once a frame comes after its end. */
TEST(netside_gap_window_measures_the_longest_silence_in_ipv4_traffic)
{
	static struct net n;
	struct dev a = {0};
	REQUIRE(loopback_net(&n));
	const struct net_port pa = {.rx = on_rx, .opaque = &a};
	REQUIRE(net_attach(&n, &pa) == 0);
	static uint8_t f[128];
	struct net_if nif = {
	    .mac = NET_GUEST_MAC, .ip = LINK_GUEST_IP, .peer_mac = {2, 0, 0, 0, 0, 1}};
	size_t len = net_udp(&nif, f, sizeof(f), LINK_PEER_IP, 40000, 9, "12345678", 8);
	struct iovec udp = {f, len};
	struct timespec ms2 = {0, 2000000}, ms10 = {0, 10000000};
	uint64_t max;

	REQUIRE(net_port_send(n.be, &a, &udp, 1) == 0); /* before the window */
	net_gap_arm(&n, mono_ns());
	CHECK(!net_gap_read(&n, &max));
	nanosleep(&ms10, NULL);
	ask(&n, &a); /* an ARP in the silence: not traffic */
	nanosleep(&ms2, NULL);
	REQUIRE(net_port_send(n.be, &a, &udp, 1) == 0);
	net_gap_end(&n, mono_ns());
	CHECK(!net_gap_read(&n, &max)); /* open until a frame comes after the end */
	nanosleep(&ms2, NULL);
	REQUIRE(net_port_send(n.be, &a, &udp, 1) == 0);
	CHECK(net_gap_read(&n, &max));
	CHECK(max >= 12000000 && max < 100000000);
	net_detach(&n, &a);
	n.be->ops->destroy(n.be);
}

/* The window's end is named at the reader's next tick, after the switch ended: a gap that began
 * after the end (a slow frame of the new card's steady traffic) is not the switch's, even when
 * it came before the end was named. The longest that began by the end is. */
TEST(gap_window_ignores_gaps_that_begin_after_its_end_even_when_the_end_is_named_late)
{
	static struct gap_window g;
	uint64_t max;
	memset(&g, 0, sizeof(g));
	gap_frame(&g, 90);
	gap_arm(&g, 100);
	gap_frame(&g, 150); /* 60, began before the window: overlaps it */
	gap_frame(&g, 160);
	gap_frame(&g, 400);  /* 240, began at 160, inside */
	gap_frame(&g, 1000); /* 600, began at 400: after the end named below */
	CHECK(!gap_read(&g, &max));
	gap_end(&g, 170);
	CHECK(!gap_read(&g, &max));
	gap_frame(&g, 1010);
	CHECK(gap_read(&g, &max) && max == 240);
	gap_frame(&g, 5000); /* closed: final */
	CHECK(gap_read(&g, &max) && max == 240);

	/* Armed again: the steps start afresh; more steps than it keeps drop the shortest. */
	gap_arm(&g, 5000);
	uint64_t t = 5000; /* the last frame */
	for (unsigned i = 1; i <= GAP_STEPS + 8; i++) {
		t += i;
		gap_frame(&g, t);
	}
	gap_end(&g, t);
	gap_frame(&g, t + 1);
	CHECK(gap_read(&g, &max) && max == GAP_STEPS + 8);
}

/* The guest's ping timed where its card meets the link: the request out (its stamp, the time its
 * card handed it over), the reply back from the link and the card having it. On one clock here
 * (the stamp is the host's TSC): every hop is a duration, none negative. Only the guest's own
 * ping (PING_ICMP_ID) with the stamp and sequence of the one out is timed. */
TEST(netside_times_the_guests_ping_at_the_seam)
{
	static struct net n;
	struct dev a = {0};
	REQUIRE(loopback_net(&n));
	struct net_port pa = {.rx = on_rx, .opaque = &a};
	net_guest_mac(0, pa.mac);
	REQUIRE(net_attach(&n, &pa) == 0);
	static uint8_t f[128];
	struct net_if nif = {.ip = LINK_GUEST_IP};
	memcpy(nif.mac, pa.mac, 6);
	memset(nif.peer_mac, 0xff, 6);
	struct net_hops_sums h;
	uint64_t spans = 0; /* each ping's stamp to the end of its poll, added up */

	for (unsigned i = 0; i < 3; i++) {
		uint64_t stamp = __rdtsc();
		size_t len = net_icmp_echo(&nif, f, sizeof(f), LINK_PEER_IP, PING_ICMP_ID,
					   (uint16_t)(i + 1), &stamp, 8);
		struct iovec iov = {f, len};
		unsigned before = a.frames;
		REQUIRE(net_port_send(n.be, &a, &iov, 1) == 0);
		n.be->ops->poll(n.be, false, 0);
		spans += __rdtsc() - stamp;
		CHECK(a.frames == before + 1); /* the loopback peer answered */
		net_backend_hops(n.be, pa.mac, &h);
		CHECK(h.n == i + 1);
		CHECK(h.out_sum >= 0 && h.taken_sum >= h.out_sum + (int64_t)h.link_sum);
		CHECK((uint64_t)h.taken_sum <= spans);
	}
	/* Another id (someone else's ping), and a request without a stamp: not timed. */
	uint64_t stamp = __rdtsc();
	size_t len = net_icmp_echo(&nif, f, sizeof(f), LINK_PEER_IP, 7, 9, &stamp, 8);
	struct iovec iov = {f, len};
	REQUIRE(net_port_send(n.be, &a, &iov, 1) == 0);
	n.be->ops->poll(n.be, false, 0);
	len = net_icmp_echo(&nif, f, sizeof(f), LINK_PEER_IP, PING_ICMP_ID, 10, "x", 1);
	iov.iov_len = len;
	REQUIRE(net_port_send(n.be, &a, &iov, 1) == 0);
	n.be->ops->poll(n.be, false, 0);
	CHECK(a.frames == 5);
	net_backend_hops(n.be, pa.mac, &h);
	CHECK(h.n == 3);
	/* Another guest's MAC has no hops of its own. */
	uint8_t other[6];
	net_guest_mac(1, other);
	net_backend_hops(n.be, other, &h);
	CHECK(h.n == 0);
	net_detach(&n, &a);
	n.be->ops->destroy(n.be);
}
