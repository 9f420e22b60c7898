/* The `exits` workload's targets. */
#include "vmm/exitdev.h"
#include "vmm/counters.h"

#include <errno.h>
#include <linux/kvm.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int exitdev_pio(uint64_t addr, void *data, uint32_t len, bool is_write, void *opaque)
{
	struct exitdev *d = opaque;
	(void)addr, (void)data, (void)len, (void)is_write;
	CNT_ADD(d->cnt->pio_vmm, 1);
	return 0;
}

static int exitdev_mmio(uint64_t addr, void *data, uint32_t len, bool is_write, void *opaque)
{
	struct exitdev *d = opaque;
	(void)addr, (void)data, (void)len, (void)is_write;
	CNT_ADD(d->cnt->mmio_vmm, 1);
	return 0;
}

static int ioeventfd(const struct accel *accel, int efd, uint64_t addr, bool pio, bool assign)
{
	return accel_ioeventfd(accel, pio ? IO_PIO : IO_MMIO, addr, 4, efd, assign);
}

int exitdev_init(struct exitdev *d, const struct accel *accel, struct iobus *bus,
		 struct vmm_counters *cnt)
{
	int r;

	d->cnt = cnt;
	d->pio_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	d->mmio_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->pio_efd < 0 || d->mmio_efd < 0) {
		r = -errno;
		goto err_close;
	}
	r = iobus_register(bus, IO_PIO, PORT_EXIT_VMM, 4, exitdev_pio, d);
	if (!r)
		r = iobus_register(bus, IO_MMIO, MMIO_EXIT_VMM, 0x1000, exitdev_mmio, d);
	if (r)
		goto err_close;
	r = ioeventfd(accel, d->pio_efd, PORT_EXIT_EVENTFD, true, true);
	if (r)
		goto err_close;
	r = ioeventfd(accel, d->mmio_efd, MMIO_EXIT_EVENTFD, false, true);
	if (r)
		goto err_pio;
	return 0;

err_pio:
	ioeventfd(accel, d->pio_efd, PORT_EXIT_EVENTFD, true, false);
err_close:
	if (d->pio_efd >= 0)
		close(d->pio_efd);
	if (d->mmio_efd >= 0)
		close(d->mmio_efd);
	d->pio_efd = d->mmio_efd = -1;
	return r;
}

void exitdev_poll(struct exitdev *d)
{
	uint64_t n;
	if (d->pio_efd >= 0 && read(d->pio_efd, &n, sizeof(n)) == sizeof(n))
		CNT_ADD(d->cnt->pio_eventfd, n);
	if (d->mmio_efd >= 0 && read(d->mmio_efd, &n, sizeof(n)) == sizeof(n))
		CNT_ADD(d->cnt->mmio_eventfd, n);
}

void exitdev_exit(struct exitdev *d, const struct accel *accel)
{
	if (d->pio_efd < 0)
		return;
	exitdev_poll(d);
	ioeventfd(accel, d->pio_efd, PORT_EXIT_EVENTFD, true, false);
	ioeventfd(accel, d->mmio_efd, MMIO_EXIT_EVENTFD, false, false);
	close(d->pio_efd);
	close(d->mmio_efd);
	d->pio_efd = d->mmio_efd = -1;
}
