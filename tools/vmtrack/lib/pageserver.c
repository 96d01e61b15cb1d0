// SPDX-License-Identifier: LGPL-2.1
/*
 * Client of a stock "criu page-server": one iteration per connection.
 *
 * The protocol (CRIU's criu/page-xfer.c): every request is a struct
 * page_server_iov in host byte order, unpacked:
 *
 *   CRIU <= 4.1 (and Debian's 3.17): u32 cmd, u32 nr_pages, u64 vaddr,
 *				       u64 dst_id			24 bytes
 *   CRIU >= 4.2:			u32 cmd, (4 bytes hole), u64 nr_pages,
 *				       u64 vaddr, u64 dst_id		32 bytes
 *
 * There is no negotiation, and a request of the wrong size makes the
 * server misread everything after it (or wait forever), so the caller says
 * which one the server speaks. cmd: the command in the low 16 bits, flags
 * in the high ones; dst_id = id << 8 | 1 (a task's pagemap-ID.img).
 *
 *   OPEN2		-> 1 byte: the server has a parent (--prev-images-dir)
 *   ADD_F | PE_PRESENT << 16, then nr_pages pages of data
 *   ADD_F | PE_PARENT << 16 (a hole; the server checks it against the parent)
 *   CLOSE		-> int32 status; then the server waits for our EOF
 *
 * The server accepts one connection and exits after it: the remote side
 * starts one per iteration (criu page-server -D DIR/K --prev-images-dir
 * ../K-1 --port P), and the client retries the connection while it starts.
 */
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "vmtrack-dump.h"

#define PS_IOV_OPEN2	4
#define PS_IOV_ADD_F	6
#define PS_IOV_CLOSE	0x1023
#define PS_TYPE_TASK	1
#define CONNECT_RETRY_MS	10000	/* refused connections, in 50 ms steps */
#define STOP_CHECK_MS	200	/* how late a stop may end a wait */

struct vmtrack_ps {
	int		fd;
	int		hdr;		/* 24 or 32 */
	uint64_t	dst_id;
	long		page_size;
	char		err[256];
};

static unsigned int ps_timeout_ms;

/* strerror(), or how long nothing moved when vmtrack_ps_set_timeout() ended it */
static const char *ps_strerror(int ret, char *buf, size_t len)
{
	if (ret != -ETIMEDOUT || !ps_timeout_ms)
		return strerror(-ret);
	snprintf(buf, len, "nothing sent or received for %u s", (ps_timeout_ms + 999) / 1000);
	return buf;
}

static int ps_err(struct vmtrack_ps *ps, int ret, const char *what)
{
	char why[64];

	snprintf(ps->err, sizeof(ps->err), "page server: %s: %s", what,
		 ps_strerror(ret, why, sizeof(why)));
	return ret;
}

/**
 * vmtrack_ps_error() - the reason of the last failure
 * @ps:	the connection
 *
 * Return: a one-line message.
 */
const char *vmtrack_ps_error(const struct vmtrack_ps *ps)
{
	return ps->err;
}

static volatile sig_atomic_t *ps_stop;

/**
 * vmtrack_ps_set_stop() - let a signal end a wait for the page server
 * @stop:	a flag a signal handler sets, or NULL (the default: never)
 *
 * A send, receive or connection retry fails with -EINTR once *@stop is
 * set, at most 200 ms later, whenever the signal came. Without it, a server
 * that stops answering holds the caller, and a process the caller froze,
 * as long as the connection lives.
 */
void vmtrack_ps_set_stop(volatile sig_atomic_t *stop)
{
	ps_stop = stop;
}

/**
 * vmtrack_ps_set_timeout() - give up on a page server that does not move
 * @ms:		how long a connection, a send or a receive may wait without a
 *		byte going either way, in milliseconds; 0 (the default): as
 *		long as the connection lives
 *
 * A server that stops reading or answering otherwise holds the caller,
 * and a process the caller froze, until a signal (vmtrack_ps_set_stop())
 * or the end of the connection. Past @ms the call fails with -ETIMEDOUT.
 */
void vmtrack_ps_set_timeout(unsigned int ms)
{
	ps_timeout_ms = ms;
}

static bool ps_stopped(void)
{
	return ps_stop && *ps_stop;
}

static uint64_t ps_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

/*
 * Wait until @fd is ready for @events. A signal that comes just before a
 * blocking call does not interrupt it: waiting in steps ends a wait the
 * stop flag asks to end within a step.
 */
static int ps_wait(int fd, short events)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	uint64_t start = ps_now_ms();
	int n;

	for (;;) {
		if (ps_stopped())
			return -EINTR;
		n = poll(&pfd, 1, STOP_CHECK_MS);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
		if (ps_timeout_ms && ps_now_ms() - start >= ps_timeout_ms)
			return -ETIMEDOUT;
	}
}

static int send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	int ret;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			ret = ps_wait(fd, POLLOUT);
			if (ret)
				return ret;
			continue;
		}
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		p += n;
		len -= n;
	}
	return 0;
}

static int recv_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	int ret;

	while (len) {
		ssize_t n = recv(fd, p, len, MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			ret = ps_wait(fd, POLLIN);
			if (ret)
				return ret;
			continue;
		}
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		p += n;
		len -= n;
	}
	return 0;
}

/**
 * vmtrack_ps_header() - encode a page_server_iov
 * @buf:	at least 32 bytes
 * @hdr:	24 (CRIU <= 4.1) or 32 (CRIU >= 4.2)
 * @cmd:	command and flags
 * @nr_pages:	pages
 * @vaddr:	address
 * @dst_id:	id << 8 | type
 *
 * Return: the size, @hdr.
 */
size_t vmtrack_ps_header(uint8_t *buf, int hdr, uint32_t cmd, uint64_t nr_pages,
			 uint64_t vaddr, uint64_t dst_id)
{
	uint32_t nr32 = nr_pages;

	memset(buf, 0, hdr);
	memcpy(buf, &cmd, 4);
	if (hdr == 24) {
		memcpy(buf + 4, &nr32, 4);
		memcpy(buf + 8, &vaddr, 8);
		memcpy(buf + 16, &dst_id, 8);
	} else {
		memcpy(buf + 8, &nr_pages, 8);
		memcpy(buf + 16, &vaddr, 8);
		memcpy(buf + 24, &dst_id, 8);
	}
	return hdr;
}

static int request(struct vmtrack_ps *ps, uint32_t cmd, uint64_t nr, uint64_t vaddr)
{
	uint8_t buf[32];
	size_t n = vmtrack_ps_header(buf, ps->hdr, cmd, nr, vaddr, ps->dst_id);

	return send_all(ps->fd, buf, n);
}

/* connect @fd, waiting as ps_wait() does: a stop or the timeout ends it */
static int connect_wait(int fd, const struct sockaddr *sa, socklen_t len)
{
	socklen_t optlen = sizeof(int);
	int ret, soerr = 0;

	if (!connect(fd, sa, len))
		return 0;
	if (errno != EINPROGRESS)
		return -errno;
	ret = ps_wait(fd, POLLOUT);
	if (ret)
		return ret;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &optlen))
		return -errno;
	return -soerr;
}

static int connect_to(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int fd = -1, ret, one = 1;

	ret = getaddrinfo(host, port, &hints, &res);
	if (ret)
		return -EHOSTUNREACH;
	ret = -ECONNREFUSED;
	for (ai = res; ai; ai = ai->ai_next) {
		/* non-blocking: sends and receives wait in ps_wait() anyway */
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    ai->ai_protocol);
		if (fd < 0)
			continue;
		ret = connect_wait(fd, ai->ai_addr, ai->ai_addrlen);
		if (!ret)
			break;
		close(fd);
		fd = -1;
		/* a stop ends the tries; an address that did not answer, only its own */
		if (ret == -EINTR)
			break;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return ret;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/*
 * Split "HOST:PORT" ("[V6ADDR]:PORT" for an IPv6 address) into @host and
 * @port. The port is a number: criu page-server takes nothing else, and
 * getaddrinfo() would wrap one above 65535 to another port.
 */
static int split_addr(const char *addr, char *host, size_t hostlen, char *port,
		      size_t portlen)
{
	const char *colon = strrchr(addr, ':');
	size_t n = colon ? colon - addr : 0;
	unsigned long v;
	char *end;

	if (!colon || !n || n >= hostlen || !colon[1] || strlen(colon + 1) >= portlen)
		return -EINVAL;
	errno = 0;
	v = strtoul(colon + 1, &end, 10);
	if (*end || errno || v < 1 || v > 65535 || !isdigit((unsigned char)colon[1]))
		return -EINVAL;
	if (addr[0] == '[' && addr[n - 1] == ']') {
		addr++;
		n -= 2;
	}
	if (!n)
		return -EINVAL;
	memcpy(host, addr, n);
	host[n] = '\0';
	memcpy(port, colon + 1, strlen(colon + 1) + 1);
	return 0;
}

static int parse_addr(const char *addr, char *host, size_t hostlen, char *port,
		      size_t portlen, char *err, size_t errlen)
{
	if (!split_addr(addr, host, hostlen, port, portlen))
		return 0;
	set_err(err, errlen, "page server '%s': expected HOST:PORT, PORT from 1 to 65535", addr);
	return -EINVAL;
}

/**
 * vmtrack_ps_check_addr() - check a page server's address before a dump
 * @addr:	"HOST:PORT" or "[V6ADDR]:PORT"
 * @err:	buffer for a one-line reason, may be NULL
 * @errlen:	size of @err
 *
 * For a caller that wants to refuse a bad address before it touches the
 * process: the port must be a number from 1 to 65535 and the host must
 * resolve. Nothing is connected.
 *
 * Return: 0, -EINVAL (not HOST:PORT) or -EHOSTUNREACH (unknown host).
 */
int vmtrack_ps_check_addr(const char *addr, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	char host[256], port[8];

	if (parse_addr(addr, host, sizeof(host), port, sizeof(port), err, errlen))
		return -EINVAL;
	if (getaddrinfo(host, port, &hints, &res)) {
		set_err(err, errlen, "page server %s: unknown host", addr);
		return -EHOSTUNREACH;
	}
	freeaddrinfo(res);
	return 0;
}

/**
 * vmtrack_ps_begin() - connect and open a task's pagemap on the server
 * @psp:	receives the connection
 * @addr:	"HOST:PORT" or "[V6ADDR]:PORT"
 * @hdr:	24 (CRIU <= 4.1) or 32 (CRIU >= 4.2)
 * @id:		the task's pid as it sees it
 * @parent:	this iteration has a parent: the server must have one too
 * @err:	buffer for a one-line reason, may be NULL
 * @errlen:	size of @err
 *
 * Retries a refused connection for 10 seconds (the server may be
 * starting).
 *
 * Return: 0 or a negative errno.
 */
int vmtrack_ps_begin(struct vmtrack_ps **psp, const char *addr, int hdr, pid_t id,
		     bool parent, char *err, size_t errlen)
{
	struct timespec step = { 0, 50 * 1000 * 1000 };
	struct vmtrack_ps *ps;
	char host[256], port[8];
	uint8_t has_parent;
	uint64_t until;
	char why[64];
	int ret;

	if (parse_addr(addr, host, sizeof(host), port, sizeof(port), err, errlen))
		return -EINVAL;
	if (hdr != 24 && hdr != 32) {
		set_err(err, errlen, "page server %s: header size %d, not 24 or 32", addr, hdr);
		return -EINVAL;
	}
	ps = calloc(1, sizeof(*ps));
	if (!ps)
		return -ENOMEM;
	ps->hdr = hdr;
	ps->dst_id = (uint64_t)id << 8 | PS_TYPE_TASK;
	ps->page_size = sysconf(_SC_PAGESIZE);
	until = ps_now_ms() + CONNECT_RETRY_MS;
	for (;;) {
		ps->fd = connect_to(host, port);
		if (ps->fd >= 0 || ps->fd != -ECONNREFUSED)
			break;
		if (ps_stopped()) {
			ps->fd = -EINTR;
			break;
		}
		/* by the clock: an address that timed out may have taken long */
		if (ps_now_ms() >= until)
			break;
		nanosleep(&step, NULL);
	}
	if (ps->fd < 0) {
		ret = ps->fd;
		set_err(err, errlen, "page server %s: %s", addr,
			ret == -EHOSTUNREACH ? "unknown host" : ps_strerror(ret, why, sizeof(why)));
		free(ps);
		return ret;
	}
	ret = request(ps, PS_IOV_OPEN2, 0, 0);
	if (!ret)
		ret = recv_all(ps->fd, &has_parent, 1);
	if (ret) {
		set_err(err, errlen, "page server %s: open: %s%s", addr,
			ps_strerror(ret, why, sizeof(why)),
			ret == -EINTR ? "" : " (wrong header size?)");
		goto fail;
	}
	if (parent && !has_parent) {
		ret = -ENOENT;
		set_err(err, errlen, "page server %s has no parent images "
			"(start it with --prev-images-dir)", addr);
		goto fail;
	}
	*psp = ps;
	return 0;
fail:
	close(ps->fd);
	free(ps);
	return ret;
}

/**
 * vmtrack_ps_present() - send pages
 * @ps:		the connection
 * @vaddr:	first page
 * @nr_pages:	pages
 * @data:	their contents
 *
 * Return: 0 or a negative errno.
 */
int vmtrack_ps_present(struct vmtrack_ps *ps, uint64_t vaddr, uint64_t nr_pages,
		       const void *data)
{
	int ret;

	/* the old header carries 32 bits of pages */
	while (nr_pages) {
		uint64_t n = nr_pages > UINT32_MAX ? UINT32_MAX : nr_pages;

		ret = request(ps, PS_IOV_ADD_F | VMTRACK_PE_PRESENT << 16, n, vaddr);
		if (!ret)
			ret = send_all(ps->fd, data, n * ps->page_size);
		if (ret)
			return ps_err(ps, ret, "send");
		vaddr += n * ps->page_size;
		data = (const char *)data + n * ps->page_size;
		nr_pages -= n;
	}
	return 0;
}

/**
 * vmtrack_ps_hole() - send pages unchanged since the parent
 * @ps:		the connection
 * @vaddr:	first page
 * @nr_pages:	pages
 *
 * Return: 0 or a negative errno.
 */
int vmtrack_ps_hole(struct vmtrack_ps *ps, uint64_t vaddr, uint64_t nr_pages)
{
	int ret;

	while (nr_pages) {
		uint64_t n = nr_pages > UINT32_MAX ? UINT32_MAX : nr_pages;

		ret = request(ps, PS_IOV_ADD_F | VMTRACK_PE_PARENT << 16, n, vaddr);
		if (ret)
			return ps_err(ps, ret, "send");
		vaddr += n * ps->page_size;
		nr_pages -= n;
	}
	return 0;
}

/**
 * vmtrack_ps_commit() - close the iteration: the server flushes its images
 * @ps:	the connection; freed on success, kept for vmtrack_ps_error() and
 *	vmtrack_ps_abort() on failure
 *
 * Return: 0, or a negative errno (the server refused something: a hole its
 * parent does not hold ends the session early).
 */
int vmtrack_ps_commit(struct vmtrack_ps *ps)
{
	int32_t status = -1;
	char c;
	int ret;

	ret = request(ps, PS_IOV_CLOSE, 0, 0);
	if (!ret)
		ret = recv_all(ps->fd, &status, sizeof(status));
	if (ret == -EINTR || ret == -ETIMEDOUT)
		return ps_err(ps, ret, "close");
	if (ret)
		return ps_err(ps, ret, "close (the server refused the iteration)");
	if (status)
		return ps_err(ps, -EPROTO, "close");
	/* the server waits for our EOF, then closes its side */
	shutdown(ps->fd, SHUT_WR);
	while (!recv_all(ps->fd, &c, 1))
		;
	close(ps->fd);
	free(ps);
	return 0;
}

/**
 * vmtrack_ps_abort() - drop the connection without closing the iteration
 * @ps:	the connection, freed; may be NULL
 *
 * The server then exits with "The data were not flushed"; what it wrote of
 * the iteration stays on its side, without the rest.
 */
void vmtrack_ps_abort(struct vmtrack_ps *ps)
{
	if (!ps)
		return;
	close(ps->fd);
	free(ps);
}
