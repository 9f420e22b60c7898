/* The guest's network stack (RFC 826 ARP, RFC 791 IPv4, RFC 792 ICMP echo, RFC 768 UDP). */
#include "vmm/shared/netstack.h"

static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static void wr32(uint8_t *p, uint32_t v)
{
	wr16(p, (uint16_t)(v >> 16));
	wr16(p + 2, (uint16_t)v);
}
static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}
static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)rd16(p) << 16 | rd16(p + 2);
}
static void copy(void *d, const void *s, size_t n)
{
	__builtin_memcpy(d, s, n);
}
static bool same_mac(const uint8_t *a, const uint8_t *b)
{
	return !__builtin_memcmp(a, b, 6);
}

uint16_t net_csum(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;
	for (; len > 1; p += 2, len -= 2)
		sum += rd16(p);
	if (len)
		sum += (uint32_t)p[0] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static size_t pad(uint8_t *buf, size_t len, size_t cap)
{
	while (len < ETH_MIN_FRAME && len < cap)
		buf[len++] = 0;
	return len;
}

static void eth(uint8_t *buf, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
	copy(buf, dst, 6);
	copy(buf + 6, src, 6);
	wr16(buf + 12, type);
}

static size_t arp(struct net_if *nif, uint8_t *buf, size_t cap, uint16_t op, const uint8_t *tha,
		  uint32_t tpa)
{
	if (cap < ETH_MIN_FRAME)
		return 0;
	eth(buf, op == 1 ? bcast : tha, nif->mac, ETH_P_ARP);
	uint8_t *a = buf + ETH_HLEN;
	wr16(a, 1); /* Ethernet */
	wr16(a + 2, ETH_P_IP);
	a[4] = 6;
	a[5] = 4;
	wr16(a + 6, op);
	copy(a + 8, nif->mac, 6);
	wr32(a + 14, nif->ip);
	copy(a + 18, op == 1 ? (const uint8_t *)"\0\0\0\0\0\0" : tha, 6);
	wr32(a + 24, tpa);
	return pad(buf, ETH_HLEN + 28, cap);
}

size_t net_arp_request(struct net_if *nif, uint8_t *buf, size_t cap, uint32_t target_ip)
{
	return arp(nif, buf, cap, 1, bcast, target_ip);
}

/* Ethernet + IPv4 header for a payload of len bytes; 0 if it does not fit. */
static size_t ipv4(struct net_if *nif, uint8_t *buf, size_t cap, const uint8_t *dst_mac,
		   uint32_t dst_ip, uint8_t proto, size_t len)
{
	if (len > 1500 - IP_HLEN || ETH_HLEN + IP_HLEN + len > cap)
		return 0;
	eth(buf, dst_mac, nif->mac, ETH_P_IP);
	uint8_t *ip = buf + ETH_HLEN;
	ip[0] = 0x45;
	ip[1] = 0;
	wr16(ip + 2, (uint16_t)(IP_HLEN + len));
	wr16(ip + 4, nif->ip_id++);
	wr16(ip + 6, 0x4000); /* don't fragment */
	ip[8] = 64;
	ip[9] = proto;
	wr16(ip + 10, 0);
	wr32(ip + 12, nif->ip);
	wr32(ip + 16, dst_ip);
	wr16(ip + 10, net_csum(ip, IP_HLEN, 0));
	return ETH_HLEN + IP_HLEN + len;
}

static uint32_t pseudo_sum(uint32_t src, uint32_t dst, uint8_t proto, size_t len)
{
	return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto + (uint32_t)len;
}

size_t net_udp(struct net_if *nif, uint8_t *buf, size_t cap, uint32_t dst_ip, uint16_t sport,
	       uint16_t dport, const void *payload, size_t len)
{
	size_t n = ipv4(nif, buf, cap, nif->peer_mac, dst_ip, 17, UDP_HLEN + len);
	if (!n)
		return 0;
	uint8_t *u = buf + ETH_HLEN + IP_HLEN;
	wr16(u, sport);
	wr16(u + 2, dport);
	wr16(u + 4, (uint16_t)(UDP_HLEN + len));
	wr16(u + 6, 0);
	copy(u + UDP_HLEN, payload, len);
	uint16_t c = net_csum(u, UDP_HLEN + len, pseudo_sum(nif->ip, dst_ip, 17, UDP_HLEN + len));
	wr16(u + 6, c ? c : 0xffff);
	return pad(buf, n, cap);
}

static size_t icmp(struct net_if *nif, uint8_t *buf, size_t cap, const uint8_t *dst_mac,
		   uint32_t dst_ip, uint8_t type, uint16_t id, uint16_t seq, const void *payload,
		   size_t len)
{
	size_t n = ipv4(nif, buf, cap, dst_mac, dst_ip, 1, ICMP_HLEN + len);
	if (!n)
		return 0;
	uint8_t *c = buf + ETH_HLEN + IP_HLEN;
	c[0] = type;
	c[1] = 0;
	wr16(c + 2, 0);
	wr16(c + 4, id);
	wr16(c + 6, seq);
	copy(c + ICMP_HLEN, payload, len);
	wr16(c + 2, net_csum(c, ICMP_HLEN + len, 0));
	return pad(buf, n, cap);
}

size_t net_icmp_echo(struct net_if *nif, uint8_t *buf, size_t cap, uint32_t dst_ip, uint16_t id,
		     uint16_t seq, const void *payload, size_t len)
{
	return icmp(nif, buf, cap, nif->peer_mac, dst_ip, 8, id, seq, payload, len);
}

static enum net_rx_kind bad(struct net_if *nif)
{
	nif->rx_bad++;
	return NET_RX_DROP;
}

static enum net_rx_kind rx_arp(struct net_if *nif, const uint8_t *a, size_t len, uint8_t *reply,
			       size_t cap, struct net_rx *rx)
{
	if (len < 28 || rd16(a) != 1 || rd16(a + 2) != ETH_P_IP || a[4] != 6 || a[5] != 4)
		return bad(nif);
	nif->rx_arp++;
	uint16_t op = rd16(a + 6);
	uint32_t spa = rd32(a + 14), tpa = rd32(a + 24);
	if (tpa != nif->ip)
		return NET_RX_DROP;
	/* RFC 826: whoever asks for us, or answers us, goes in the table: a table of one, the
	 * host we talk to. */
	if (!nif->peer_ip || spa == nif->peer_ip) {
		copy(nif->peer_mac, a + 8, 6);
		nif->peer_known = true;
	}
	if (op != 1)
		return NET_RX_HANDLED;
	rx->reply_len = arp(nif, reply, cap, 2, a + 8, spa);
	return rx->reply_len ? NET_RX_REPLY : NET_RX_HANDLED;
}

enum net_rx_kind net_receive(struct net_if *nif, const uint8_t *f, size_t len, uint8_t *reply,
			     size_t cap, struct net_rx *rx)
{
	__builtin_memset(rx, 0, sizeof(*rx));
	if (len < ETH_HLEN)
		return bad(nif);
	if (!same_mac(f, nif->mac) && !same_mac(f, bcast))
		return NET_RX_DROP;
	uint16_t type = rd16(f + 12);
	const uint8_t *ip = f + ETH_HLEN;
	size_t left = len - ETH_HLEN;
	if (type == ETH_P_ARP)
		return rx_arp(nif, ip, left, reply, cap, rx);
	if (type != ETH_P_IP) {
		nif->rx_other++;
		return NET_RX_DROP;
	}
	if (left < IP_HLEN || (ip[0] >> 4) != 4)
		return bad(nif);
	size_t ihl = (size_t)(ip[0] & 15) * 4, total = rd16(ip + 2);
	if (ihl < IP_HLEN || total < ihl || total > left || net_csum(ip, ihl, 0))
		return bad(nif);
	if (rd16(ip + 6) & 0x3fff) { /* fragments: not ours to reassemble */
		nif->rx_other++;
		return NET_RX_DROP;
	}
	if (rd32(ip + 16) != nif->ip)
		return NET_RX_DROP;
	rx->src_ip = rd32(ip + 12);
	const uint8_t *l4 = ip + ihl;
	size_t l4len = total - ihl;
	if (ip[9] == 1) {
		if (l4len < ICMP_HLEN || net_csum(l4, l4len, 0))
			return bad(nif);
		nif->rx_icmp++;
		rx->icmp_id = rd16(l4 + 4);
		rx->icmp_seq = rd16(l4 + 6);
		rx->payload = l4 + ICMP_HLEN;
		rx->payload_len = l4len - ICMP_HLEN;
		if (l4[0] == 0)
			return NET_RX_ICMP_REPLY;
		if (l4[0] != 8)
			return NET_RX_DROP;
		rx->reply_len = icmp(nif, reply, cap, f + 6, rx->src_ip, 0, rx->icmp_id,
				     rx->icmp_seq, rx->payload, rx->payload_len);
		return rx->reply_len ? NET_RX_REPLY : NET_RX_DROP;
	}
	if (ip[9] == 17) {
		if (l4len < UDP_HLEN)
			return bad(nif);
		size_t ulen = rd16(l4 + 4);
		if (ulen < UDP_HLEN || ulen > l4len)
			return bad(nif);
		if (rd16(l4 + 6) && net_csum(l4, ulen, pseudo_sum(rx->src_ip, nif->ip, 17, ulen)))
			return bad(nif);
		nif->rx_udp++;
		rx->src_port = rd16(l4);
		rx->dst_port = rd16(l4 + 2);
		rx->payload = l4 + UDP_HLEN;
		rx->payload_len = ulen - UDP_HLEN;
		return NET_RX_UDP;
	}
	nif->rx_other++;
	return NET_RX_DROP;
}

bool net_echo_peek(const uint8_t *f, size_t len, struct net_echo *e)
{
	if (len < ETH_HLEN + IP_HLEN + ICMP_HLEN || rd16(f + 12) != ETH_P_IP)
		return false;
	const uint8_t *ip = f + ETH_HLEN;
	size_t ihl = (size_t)(ip[0] & 15) * 4, total = rd16(ip + 2);
	if ((ip[0] >> 4) != 4 || ihl < IP_HLEN || ip[9] != 1 || (rd16(ip + 6) & 0x1fff) ||
	    total < ihl + ICMP_HLEN || len < ETH_HLEN + ihl + ICMP_HLEN)
		return false;
	const uint8_t *icmp = ip + ihl;
	if (icmp[0] != 0 && icmp[0] != 8)
		return false;
	e->type = icmp[0];
	e->src_ip = rd32(ip + 12);
	e->dst_ip = rd32(ip + 16);
	e->id = rd16(icmp + 4);
	e->seq = rd16(icmp + 6);
	e->stamped = total >= ihl + ICMP_HLEN + 8 && len >= ETH_HLEN + ihl + ICMP_HLEN + 8;
	e->stamp = 0;
	if (e->stamped)
		copy(&e->stamp, icmp + ICMP_HLEN, 8);
	return true;
}

uint64_t net_loss_share(uint64_t lost, uint64_t a, uint64_t b, uint64_t ws, uint64_t we)
{
	if (!ws || b <= a)
		return 0;
	uint64_t lo = a > ws ? a : ws, hi = we && we < b ? we : b;
	if (hi <= lo)
		return 0;
	/* lost * part / span in 64 bits: span under 2^32 ns (~4 s) first */
	uint64_t span = b - a, part = hi - lo;
	while (span >> 32) {
		span >>= 1;
		part >>= 1;
	}
	if (!span)
		return 0;
	if (lost >> 32)
		return lost / span * part;
	return (lost * part + span / 2) / span;
}
