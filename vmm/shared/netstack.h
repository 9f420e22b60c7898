/* The guest's minimal network stack: Ethernet, ARP, IPv4, ICMP echo, UDP. Freestanding (no libc)
 * so the guest and the host-side tests build the very same code. Every length and checksum of a
 * received frame is checked before use. */
#ifndef VMSCOPE_NETSTACK_H
#define VMSCOPE_NETSTACK_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ETH_HLEN	    14
#define ETH_MIN_FRAME	    60 /* without FCS */
#define ETH_P_IP	    0x0800
#define ETH_P_ARP	    0x0806
#define IP_HLEN		    20
#define UDP_HLEN	    8
#define ICMP_HLEN	    8
#define NET_UDP_PAYLOAD_OFF (ETH_HLEN + IP_HLEN + UDP_HLEN)

struct net_if {
	uint8_t mac[6];
	uint32_t ip; /* host byte order */
	uint8_t peer_mac[6];
	bool peer_known; /* learned from ARP */
	/* The one address it sends to: only that host's ARP fills peer_mac (0: whoever asks for
	 * us or answers us). Other guests on the link ask for us too. */
	uint32_t peer_ip;
	uint16_t ip_id;
	/* what came in */
	uint64_t rx_arp, rx_icmp, rx_udp, rx_other, rx_bad;
};

enum net_rx_kind {
	NET_RX_DROP,	  /* not for us, or malformed (rx_bad counts those) */
	NET_RX_REPLY,	  /* handled; *reply holds a frame to send (ARP reply, ICMP echo reply) */
	NET_RX_HANDLED,	  /* handled, nothing to send (ARP reply learned) */
	NET_RX_UDP,	  /* a UDP datagram for us: see the fields */
	NET_RX_ICMP_REPLY /* an echo reply for us: id and seq in the fields */
};

struct net_rx {
	uint32_t src_ip;
	uint16_t src_port, dst_port;
	const uint8_t *payload;
	size_t payload_len;
	uint16_t icmp_id, icmp_seq;
	size_t reply_len; /* for NET_RX_REPLY */
};

uint16_t net_csum(const void *data, size_t len, uint32_t sum);
/* Frame builders: return the frame length (padded to ETH_MIN_FRAME), or 0 if cap is too small. */
size_t net_arp_request(struct net_if *nif, uint8_t *buf, size_t cap, uint32_t target_ip);
size_t net_udp(struct net_if *nif, uint8_t *buf, size_t cap, uint32_t dst_ip, uint16_t sport,
	       uint16_t dport, const void *payload, size_t len);
size_t net_icmp_echo(struct net_if *nif, uint8_t *buf, size_t cap, uint32_t dst_ip, uint16_t id,
		     uint16_t seq, const void *payload, size_t len);
/* Parses one received frame; may write a reply frame into reply (cap bytes). */
enum net_rx_kind net_receive(struct net_if *nif, const uint8_t *frame, size_t len, uint8_t *reply,
			     size_t cap, struct net_rx *rx);

/* An ICMP echo request (type 8) or reply (0) over IPv4, read from the first len bytes of a frame
 * (a head may be all there is: no checksum is checked). stamped: the payload's first 8 bytes are
 * there, in stamp as they lie in memory (the guest's ping puts its TSC there). */
struct net_echo {
	uint32_t src_ip, dst_ip; /* host byte order */
	uint16_t id, seq;
	uint8_t type;
	bool stamped;
	uint64_t stamp;
};
bool net_echo_peek(const uint8_t *f, size_t len, struct net_echo *e);

/* Of `lost` datagrams sent between two that arrived, sent at a and b, the share sent in the
 * window [ws, we] (we == 0: still open; ws == 0: no window), rounded. Sequence numbers come from
 * anyone on the link: any lost, a, b is safe. */
uint64_t net_loss_share(uint64_t lost, uint64_t a, uint64_t b, uint64_t ws, uint64_t we);

#endif
