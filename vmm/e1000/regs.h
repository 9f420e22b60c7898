/* The Intel 82540EM ("e1000") register layout, from the 8254x SDM: the one header the model
 * (vmm/e1000/e1000.c) and the guest's driver (vmm/guest/e1000.c) both include. Plain constants
 * only, so the freestanding guest builds it too. */
#ifndef VMSCOPE_E1000_REGS_H
#define VMSCOPE_E1000_REGS_H

#define E1000_VENDOR	0x8086
#define E1000_DEVICE	0x100e /* 82540EM desktop */
#define E1000_BAR0_SIZE 0x20000
#define E1000_BAR1_SIZE 64

/* Registers (SDM 13.4). */
enum {
	E1000_CTRL = 0x0000,
	E1000_STATUS = 0x0008,
	E1000_EECD = 0x0010,
	E1000_EERD = 0x0014,
	E1000_CTRL_EXT = 0x0018,
	E1000_MDIC = 0x0020,
	E1000_FCAL = 0x0028,
	E1000_FCAH = 0x002c,
	E1000_FCT = 0x0030,
	E1000_VET = 0x0038,
	E1000_ICR = 0x00c0,
	E1000_ITR = 0x00c4,
	E1000_ICS = 0x00c8,
	E1000_IMS = 0x00d0,
	E1000_IMC = 0x00d8,
	E1000_RCTL = 0x0100,
	E1000_FCTTV = 0x0170,
	E1000_TXCW = 0x0178,
	E1000_RXCW = 0x0180,
	E1000_TCTL = 0x0400,
	E1000_TIPG = 0x0410,
	E1000_LEDCTL = 0x0e00,
	E1000_PBA = 0x1000,
	E1000_FCRTL = 0x2160,
	E1000_FCRTH = 0x2168,
	E1000_RDBAL = 0x2800,
	E1000_RDBAH = 0x2804,
	E1000_RDLEN = 0x2808,
	E1000_RDH = 0x2810,
	E1000_RDT = 0x2818,
	E1000_RDTR = 0x2820,
	E1000_RXDCTL = 0x2828,
	E1000_RADV = 0x282c,
	E1000_RSRPD = 0x2c00,
	E1000_TXDMAC = 0x3000,
	E1000_TDBAL = 0x3800,
	E1000_TDBAH = 0x3804,
	E1000_TDLEN = 0x3808,
	E1000_TDH = 0x3810,
	E1000_TDT = 0x3818,
	E1000_TIDV = 0x3820,
	E1000_TXDCTL = 0x3828,
	E1000_TADV = 0x382c,
	E1000_RXCSUM = 0x5000,
	E1000_STATS = 0x4000,
	E1000_STATS_END = 0x4100,
	E1000_MTA = 0x5200,
	E1000_RA = 0x5400,
	E1000_VFTA = 0x5600,
	E1000_WUC = 0x5800,
	E1000_WUFC = 0x5808,
	E1000_MANC = 0x5820,
};
/* Statistics registers used here (SDM 13.7); all clear on read. */
enum {
	E1000_MPC = 0x4010,
	E1000_GPRC = 0x4074,
	E1000_BPRC = 0x4078,
	E1000_MPRC = 0x407c,
	E1000_GPTC = 0x4080,
	E1000_GORCL = 0x4088,
	E1000_GORCH = 0x408c,
	E1000_GOTCL = 0x4090,
	E1000_GOTCH = 0x4094,
	E1000_RNBC = 0x40a0,
	E1000_TORL = 0x40c0,
	E1000_TORH = 0x40c4,
	E1000_TOTL = 0x40c8,
	E1000_TOTH = 0x40cc,
	E1000_TPR = 0x40d0,
	E1000_TPT = 0x40d4,
};

#define E1000_CTRL_SLU		(1u << 6)
#define E1000_CTRL_RST		(1u << 26)
#define E1000_CTRL_PHY_RST	(1u << 31)
#define E1000_STATUS_FD		1u
#define E1000_STATUS_LU		2u
#define E1000_STATUS_SPEED_1000 (2u << 6)
#define E1000_EECD_SK		1u
#define E1000_EECD_CS		2u
#define E1000_EECD_DI		4u
#define E1000_EECD_DO		8u
#define E1000_EECD_REQ		(1u << 6)
#define E1000_EECD_GNT		(1u << 7)
#define E1000_EECD_PRES		(1u << 8)
#define E1000_EERD_START	1u
#define E1000_EERD_DONE		(1u << 4)
#define E1000_MDIC_OP_WRITE	(1u << 26)
#define E1000_MDIC_OP_READ	(2u << 26)
#define E1000_MDIC_READY	(1u << 28)
#define E1000_MDIC_INT		(1u << 29)
#define E1000_MDIC_ERROR	(1u << 30)
#define E1000_ICR_TXDW		0x01u
#define E1000_ICR_TXQE		0x02u
#define E1000_ICR_LSC		0x04u
#define E1000_ICR_RXDMT0	0x10u
#define E1000_ICR_RXO		0x40u
#define E1000_ICR_RXT0		0x80u
#define E1000_ICR_MDAC		0x200u
#define E1000_ICR_ALL		0x1ffffu
#define E1000_RCTL_EN		(1u << 1)
#define E1000_RCTL_UPE		(1u << 3)
#define E1000_RCTL_MPE		(1u << 4)
#define E1000_RCTL_BAM		(1u << 15)
#define E1000_RCTL_BSEX		(1u << 25)
#define E1000_RCTL_SECRC	(1u << 26)
#define E1000_TCTL_EN		(1u << 1)
#define E1000_RAH_AV		(1u << 31)
/* Descriptor bits (SDM 3.2.3, 3.3.3). */
#define E1000_TXD_CMD_EOP  0x01
#define E1000_TXD_CMD_RS   0x08
#define E1000_TXD_CMD_DEXT 0x20
#define E1000_TXD_STA_DD   0x01
#define E1000_RXD_STA_DD   0x01
#define E1000_RXD_STA_EOP  0x02
#define E1000_TCTL_PSP	   (1u << 3)
#define E1000_TXD_CMD_IFCS 0x02
/* Receive address 0 (SDM 13.5.3): RAL0, then RAH0 with its valid bit. */
#define E1000_RAL0 E1000_RA
#define E1000_RAH0 (E1000_RA + 4)

#endif
