/* The e1000's EEPROM (Microwire, 93C46: 64 words; SDM 5.6), behind EECD bit-banging and EERD,
 * and its PHY behind MDIC (SDM 13.4.8). Called with the card's lock held. */
#include <string.h>

#include "vmm/counters.h"
#include "vmm/e1000/e1000_impl.h"

void e1000_eeprom_build(struct e1000 *e, const uint8_t mac[6])
{
	uint16_t sum = 0;
	memset(e->eeprom, 0, sizeof(e->eeprom));
	for (unsigned i = 0; i < 3; i++)
		e->eeprom[i] = (uint16_t)(mac[2 * i] | mac[2 * i + 1] << 8);
	e->eeprom[0x0a] = 0x6401;	/* initialization control 1: signature 01b, load */
	e->eeprom[0x0d] = E1000_DEVICE; /* device ID */
	e->eeprom[0x0e] = E1000_VENDOR; /* vendor ID */
	for (unsigned i = 0; i < E1000_EEPROM_WORDS - 1; i++)
		sum = (uint16_t)(sum + e->eeprom[i]);
	e->eeprom[E1000_EEPROM_WORDS - 1] = (uint16_t)(E1000_EEPROM_SUM - sum);
}

uint32_t e1000_eecd_read(struct e1000 *e)
{
	uint32_t v =
	    (R(e, E1000_EECD) & (E1000_EECD_SK | E1000_EECD_CS | E1000_EECD_DI | E1000_EECD_REQ)) |
	    E1000_EECD_PRES;
	if (v & E1000_EECD_REQ)
		v |= E1000_EECD_GNT; /* the software request is granted at once */
	if (e->ee.reading && e->ee.out_pos >= 0) {
		unsigned word = ((unsigned)e->ee.out_pos >> 4) % E1000_EEPROM_WORDS;
		if ((e->eeprom[word] >> (15 - (e->ee.out_pos & 15))) & 1)
			v |= E1000_EECD_DO;
	}
	return v;
}

/* Microwire: with CS high, DI is sampled on SK's rising edge: a start bit, opcode 10 (read) and
 * six address bits; then the word comes out MSB first on DO, one bit per falling edge, and the
 * next words follow for as long as the clock runs. */
void e1000_eecd_write(struct e1000 *e, uint32_t v)
{
	uint32_t old = R(e, E1000_EECD);
	R(e, E1000_EECD) = v & (E1000_EECD_SK | E1000_EECD_CS | E1000_EECD_DI | E1000_EECD_REQ);
	if (!(v & E1000_EECD_CS)) {
		e->ee.reading = false;
		return;
	}
	if (!(old & E1000_EECD_CS)) { /* CS rising: a new command */
		e->ee.val_in = 0;
		e->ee.bits_in = 0;
		e->ee.reading = false;
		e->ee.out_pos = -1;
	}
	if (!((old ^ v) & E1000_EECD_SK))
		return;
	if (!(v & E1000_EECD_SK)) { /* falling edge: next output bit */
		if (e->ee.reading) {
			e->ee.out_pos++;
			if ((e->ee.out_pos & 15) == 0)
				CNT_ADD(e->est.eeprom_reads, 1);
		}
		return;
	}
	if (e->ee.reading || e->ee.bits_in >= 9)
		return;
	e->ee.val_in = e->ee.val_in << 1 | !!(v & E1000_EECD_DI);
	if (++e->ee.bits_in == 9 && (e->ee.val_in >> 6) == 6) { /* 1 10 aaaaaa */
		e->ee.reading = true;
		e->ee.out_pos = (int)((e->ee.val_in & 0x3f) << 4) - 1;
	}
}

void e1000_eerd_write(struct e1000 *e, uint32_t v)
{
	unsigned addr = (v >> 8) & 0xff;
	if (!(v & E1000_EERD_START))
		return;
	CNT_ADD(e->est.eeprom_reads, 1);
	uint32_t data = addr < E1000_EEPROM_WORDS ? e->eeprom[addr] : 0;
	R(e, E1000_EERD) = data << 16 | addr << 8 | E1000_EERD_DONE;
}

void e1000_phy_reset(struct e1000 *e)
{
	static const uint16_t init[E1000_PHY_REGS] = {
	    [0] = 0x1140,  /* control: autoneg on, full duplex, 1000 Mb/s */
	    [1] = 0x796d,  /* status: autoneg complete, link up */
	    [2] = 0x0141,  /* PHY ID 1: Marvell 88E1011, as the 82540EM carries */
	    [3] = 0x0c20,  /* PHY ID 2 */
	    [4] = 0x0de1,  /* autoneg advertisement */
	    [5] = 0x41e1,  /* link partner ability */
	    [6] = 0x0001,  /* autoneg expansion */
	    [9] = 0x0e00,  /* 1000BASE-T control */
	    [10] = 0x3c00, /* 1000BASE-T status: partner 1000 full */
	    [15] = 0x3000, /* extended status */
	    [16] = 0x0068, /* PHY specific control */
	    [17] = 0xac00, /* PHY specific status: 1000 Mb/s, full duplex, resolved, link */
	};
	memcpy(e->phy, init, sizeof(e->phy));
}

void e1000_mdic_write(struct e1000 *e, uint32_t v)
{
	unsigned reg = (v >> 16) & 31, phyaddr = (v >> 21) & 31;
	uint32_t op = v & (3u << 26), out = v & ~(E1000_MDIC_READY | E1000_MDIC_ERROR);
	static const uint32_t writable = 1u << 0 | 1u << 4 | 1u << 9 | 1u << 16;

	CNT_ADD(e->est.phy_accesses, 1);
	if (phyaddr != 1 || (op != E1000_MDIC_OP_READ && op != E1000_MDIC_OP_WRITE)) {
		out |= E1000_MDIC_ERROR;
	} else if (op == E1000_MDIC_OP_READ) {
		out = (out & ~0xffffu) | e->phy[reg];
	} else if (writable & (1u << reg)) {
		/* Control's reset and restart-autoneg bits self-clear: the link is always there. */
		e->phy[reg] = reg == 0 ? (uint16_t)(v & ~0x8200u) : (uint16_t)v;
	}
	R(e, E1000_MDIC) = out | E1000_MDIC_READY;
	if (v & E1000_MDIC_INT)
		e1000_raise(e, E1000_ICR_MDAC);
}
