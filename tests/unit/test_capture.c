/* The capture's packet analysis on frames the guest's own stack builds: round trips from
 * request/reply timestamps, loss and reordering from the payload sequence numbers. */
#include <string.h>

#include "probes/capture.h"
#include "tests/harness.h"
#include "vmm/shared/netstack.h"

static struct net_if guest, peer;
static uint8_t f[2048];

static void setup(void)
{
	guest =
	    (struct net_if){.mac = {0x52, 0x54, 0, 0, 0, 2}, .ip = 0x0a4d0002, .peer_known = true};
	peer = (struct net_if){.mac = {2, 0, 0, 0, 0, 1}, .ip = 0x0a4d0001, .peer_known = true};
	memcpy(guest.peer_mac, peer.mac, 6);
	memcpy(peer.peer_mac, guest.mac, 6);
}

static size_t udp_seq(uint64_t seq, uint16_t dport)
{
	uint8_t payload[16] = {0};
	memcpy(payload, &seq, 8);
	return net_udp(&guest, f, sizeof(f), peer.ip, 40000, dport, payload, sizeof(payload));
}

TEST(capture_times_guest_started_round_trips)
{
	struct capture_counters c = {0};
	struct capture_state *st = capture_state_new();
	setup();
	size_t n = net_icmp_echo(&guest, f, sizeof(f), peer.ip, 7, 1, "12345678", 8);
	capture_analyse(&c, st, guest.ip, f, (uint32_t)n, 1000000);
	uint8_t r[2048];
	struct net_rx rx;
	REQUIRE(net_receive(&peer, f, n, r, sizeof(r), &rx) == NET_RX_REPLY);
	capture_analyse(&c, st, guest.ip, r, (uint32_t)rx.reply_len,
			1000000 + 6000); /* 6 us later */
	CHECK(c.from_guest == 1 && c.to_guest == 1 && c.rtt_samples == 1);
	CHECK(c.rtt_ns_sum == 6000);
	double p50 = capture_rtt_percentile_us(&c, 0.5);
	CHECK(p50 >= 4.0 && p50 <= 8.2); /* slot [4096, 8192) ns */
	/* A reply nobody asked for, and the namespace pinging the guest, time nothing. */
	capture_analyse(&c, st, guest.ip, r, (uint32_t)rx.reply_len, 2000000);
	n = net_icmp_echo(&peer, f, sizeof(f), guest.ip, 9, 9, "x", 1);
	capture_analyse(&c, st, guest.ip, f, (uint32_t)n, 3000000);
	CHECK(c.rtt_samples == 1 && c.to_guest == 3);
	capture_state_free(st);
}

TEST(capture_counts_loss_and_reordering_from_sequence_numbers)
{
	struct capture_counters c = {0};
	struct capture_state *st = capture_state_new();
	const uint64_t seqs[] = {0, 1, 2, 5, 6, 4, 7};
	setup();
	for (unsigned i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
		size_t n = udp_seq(seqs[i], 9);
		capture_analyse(&c, st, guest.ip, f, (uint32_t)n, 1000 * i);
	}
	CHECK(c.from_guest == 7);
	CHECK(c.seq_lost == 2);	     /* 3 and 4 missing when 5 came... */
	CHECK(c.seq_reordered == 1); /* ...then 4 arrived late */
	/* Not ours, or too short to parse: counted by nobody, read by nothing out of bounds. */
	size_t n = udp_seq(8, 9);
	capture_analyse(&c, st, 0x0a4d0009, f, (uint32_t)n, 0);
	capture_analyse(&c, st, guest.ip, f, 20, 0);
	capture_analyse(&c, st, guest.ip, f, 14 + 20 + 4, 0);
	CHECK(c.from_guest == 8 && c.seq_lost == 2);
	capture_state_free(st);
}

/* Several guests on the link (--vms): each one's packets are counted by its address, both ways;
 * the round trips and the sequence stay the first guest's. */
TEST(capture_counts_each_guests_packets_by_address)
{
	struct capture_counters c = {0};
	struct capture_state *st = capture_state_new();
	setup();
	for (unsigned vm = 0; vm < CAP_VMS + 1; vm++) { /* the last is nobody we count */
		guest.ip = 0x0a4d0002 + vm;
		for (unsigned k = 0; k <= vm; k++) {
			size_t n = udp_seq(100 * vm + k, 9);
			capture_analyse(&c, st, 0x0a4d0002, f, (uint32_t)n, 1000);
		}
		size_t n = net_udp(&peer, f, sizeof(f), guest.ip, 9, 9, "0123456789abcdef", 16);
		capture_analyse(&c, st, 0x0a4d0002, f, (uint32_t)n, 2000);
	}
	for (unsigned vm = 0; vm < CAP_VMS; vm++)
		CHECKF(c.vm_from[vm] == vm + 1 && c.vm_to[vm] == 1, "VM%u: from %llu, to %llu",
		       vm + 1, (unsigned long long)c.vm_from[vm], (unsigned long long)c.vm_to[vm]);
	CHECK(c.from_guest == 1 && c.to_guest == 1 && c.seq_lost == 0);
	capture_state_free(st);
}
