// SPDX-License-Identifier: GPL-2.0-only
/*
 * Host unit tests of the dump side of libvmtrack: page sets, the CRIU image
 * writer and chain reader, the copier, the pagemap rule and the convergence
 * rule. No tracefs, no patched kernel, no root. TAP output and a last line
 * "N passed, N failed"; exits non-zero if a test failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmtrack.h"
#include "vmtrack-dump.h"
#include "harness.h"

#define PG	4096UL
#define BASE	0x7f0000000000ULL

static uint64_t rnd_state = 42;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static char tmpdir[256];

static void rm_rf(const char *path)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd))
		printf("#   cannot remove %s\n", path);
}

static const char *fresh_dir(const char *name)
{
	static char path[512];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	rm_rf(path);
	mkdir(path, 0700);
	return path;
}

/* ---- page sets ---- */

#define MODEL_PAGES	256

static void to_pset(struct vmtrack_pset *s, const uint8_t *m)
{
	int i;

	vmtrack_pset_clear(s);
	for (i = 0; i < MODEL_PAGES; i++)
		if (m[i])
			vmtrack_pset_append(s, BASE + i * PG, BASE + (i + 1) * PG);
}

static bool same(const struct vmtrack_pset *s, const uint8_t *m)
{
	uint8_t got[MODEL_PAGES] = { 0 };
	size_t i;
	uint64_t a;

	for (i = 0; i < s->n; i++) {
		if (i && s->r[i].start <= s->r[i - 1].end)
			return false;	/* not coalesced or not sorted */
		for (a = s->r[i].start; a < s->r[i].end; a += PG)
			got[(a - BASE) / PG] = 1;
	}
	return !memcmp(got, m, sizeof(got));
}

static void test_pset_model(void)
{
	struct vmtrack_pset a, b, out;
	uint8_t ma[MODEL_PAGES], mb[MODEL_PAGES], want[MODEL_PAGES];
	int round, i, op;

	vmtrack_pset_init(&a);
	vmtrack_pset_init(&b);
	vmtrack_pset_init(&out);
	for (round = 0; round < 2000; round++) {
		int density = 1 + rnd() % 7;

		for (i = 0; i < MODEL_PAGES; i++) {
			ma[i] = rnd() % 8 < (uint64_t)density;
			mb[i] = rnd() % 8 < (uint64_t)density;
		}
		to_pset(&a, ma);
		to_pset(&b, mb);
		for (op = 0; op < 3; op++) {
			for (i = 0; i < MODEL_PAGES; i++)
				want[i] = op == 0 ? ma[i] && mb[i] : op == 1 ? ma[i] && !mb[i] :
					  ma[i] || mb[i];
			CHECK_EQ(op == 0 ? vmtrack_pset_and(&out, &a, &b) :
				 op == 1 ? vmtrack_pset_sub(&out, &a, &b) :
				 vmtrack_pset_or(&out, &a, &b), 0);
			if (!same(&out, want)) {
				CHECK(!"set operation differs from the model");
				round = 2000;
				break;
			}
		}
	}
	CHECK_EQ(vmtrack_pset_append(&a, BASE, BASE + PG), -EINVAL);	/* below the end */
	CHECK_EQ(vmtrack_pset_and(&a, &a, &b), -EINVAL);		/* aliasing */
	vmtrack_pset_free(&a);
	vmtrack_pset_free(&b);
	vmtrack_pset_free(&out);
}

/* ---- protobuf ---- */

static void test_pb_encoding(void)
{
	/* vaddr 0x1000, compat 2, flags PE_PRESENT, nr_pages 2 */
	static const uint8_t want[] = { 0x08, 0x80, 0x20, 0x10, 0x02, 0x20, 0x04, 0x28, 0x02 };
	/* img_version 2, dump_uptime 1000000, pre_dump_mode 2 */
	static const uint8_t inv[] = { 0x08, 0x02, 0x40, 0xc0, 0x84, 0x3d, 0x48, 0x02 };
	struct vmtrack_pme_entry e = { 0x1000, 2, VMTRACK_PE_PRESENT, 0 };
	uint8_t buf[64];
	size_t n;

	n = vmtrack_pb_pagemap_entry(buf, &e);
	CHECK_EQ(n, sizeof(want));
	CHECK(!memcmp(buf, want, sizeof(want)));
	n = vmtrack_pb_inventory(buf, 1000000);
	CHECK_EQ(n, sizeof(inv));
	CHECK(!memcmp(buf, inv, sizeof(inv)));
	/* a 64-bit address and a count beyond 32 bits: field 2 is truncated */
	e = (struct vmtrack_pme_entry){ 0x7fffffffe000ULL, 1ULL << 32, VMTRACK_PE_PARENT, 0 };
	n = vmtrack_pb_pagemap_entry(buf, &e);
	CHECK(n > 9 && n <= 48);
}

/* page_server_iov: <IIQQ up to CRIU 4.1, <IxxxxQQQ from 4.2 (criu/page-xfer.c) */
static void test_ps_header(void)
{
	static const uint8_t v24[] = {
		0x06, 0x00, 0x04, 0x00,  0x03, 0x00, 0x00, 0x00,
		0x00, 0x10, 0x00, 0x00,  0x00, 0x00, 0x00, 0x00,
		0x01, 0x2a, 0x00, 0x00,  0x00, 0x00, 0x00, 0x00,
	};
	static const uint8_t v32[] = {
		0x06, 0x00, 0x04, 0x00,  0x00, 0x00, 0x00, 0x00,
		0x03, 0x00, 0x00, 0x00,  0x00, 0x00, 0x00, 0x00,
		0x00, 0x10, 0x00, 0x00,  0x00, 0x00, 0x00, 0x00,
		0x01, 0x2a, 0x00, 0x00,  0x00, 0x00, 0x00, 0x00,
	};
	uint8_t buf[32];

	/* ADD_F with PE_PRESENT, 3 pages at 0x1000, task 42 */
	CHECK_EQ(vmtrack_ps_header(buf, 24, 6 | VMTRACK_PE_PRESENT << 16, 3, 0x1000,
				   42 << 8 | 1), 24);
	CHECK(!memcmp(buf, v24, sizeof(v24)));
	CHECK_EQ(vmtrack_ps_header(buf, 32, 6 | VMTRACK_PE_PRESENT << 16, 3, 0x1000,
				   42 << 8 | 1), 32);
	CHECK(!memcmp(buf, v32, sizeof(v32)));
}

/* addresses as criu page-server takes them; no name lookups (no network) */
static void test_ps_addr(void)
{
	static const char * const bad[] = {
		"", "127.0.0.1", "127.0.0.1:", ":27027", "127.0.0.1:0", "127.0.0.1:65536",
		"127.0.0.1:99999", "127.0.0.1:27027x", "127.0.0.1:+80", "127.0.0.1: 80",
		"[]:27027", "127.0.0.1:184467440737095516160",
	};
	char err[128];
	size_t i;

	CHECK_EQ(vmtrack_ps_check_addr("127.0.0.1:27027", err, sizeof(err)), 0);
	CHECK_EQ(vmtrack_ps_check_addr("127.0.0.1:1", err, sizeof(err)), 0);
	CHECK_EQ(vmtrack_ps_check_addr("127.0.0.1:65535", err, sizeof(err)), 0);
	CHECK_EQ(vmtrack_ps_check_addr("[::1]:27027", err, sizeof(err)), 0);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		err[0] = '\0';
		CHECK_EQ(vmtrack_ps_check_addr(bad[i], err, sizeof(err)), -EINVAL);
		CHECK(strstr(err, "expected HOST:PORT"));
	}
}

static volatile sig_atomic_t ps_alarm;

static void on_ps_alarm(int sig)
{
	ps_alarm = sig;
}

/*
 * In a child: SIGALRM after @alarm_s seconds (0: none), whose handler sets
 * ps_alarm, while vmtrack_ps_begin() waits for @addr's answer; @stop is
 * what the page server code is told to stop on. Exits 0 on -EINTR (in the
 * wait for the answer to OPEN2 if @in_open, else anywhere: a stop set
 * before the call ends the connection's wait), 1 otherwise.
 */
static pid_t ps_begin_child(const char *addr, volatile sig_atomic_t *stop,
			    unsigned int alarm_s, bool in_open)
{
	struct sigaction act = { .sa_handler = on_ps_alarm };
	struct vmtrack_ps *ps = NULL;
	char err[256];
	pid_t pid;
	int ret;

	pid = fork();
	if (pid)
		return pid;
	sigaction(SIGALRM, &act, NULL);
	vmtrack_ps_set_stop(stop);
	alarm(alarm_s);
	ret = vmtrack_ps_begin(&ps, addr, 32, 1, false, err, sizeof(err));
	_exit(ret == -EINTR && (!in_open || strstr(err, "open")) ? 0 : 1);
}

/*
 * A page server that takes connections (the kernel's backlog does) and
 * never answers: its listening socket, its "127.0.0.1:PORT" in @addr.
 */
static int silent_server(char *addr, size_t len)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t salen = sizeof(sa);
	int fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0);
	if (fd < 0)
		return -1;
	CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CHECK_EQ(listen(fd, 4), 0);
	CHECK_EQ(getsockname(fd, (struct sockaddr *)&sa, &salen), 0);
	snprintf(addr, len, "127.0.0.1:%d", ntohs(sa.sin_port));
	return fd;
}

/* wait up to @tenths of a second for @pid: true if it exited, with its status */
static bool ps_wait(pid_t pid, int tenths, int *status)
{
	int i;

	for (i = 0; i < tenths; i++) {
		if (waitpid(pid, status, WNOHANG) == pid)
			return true;
		usleep(100 * 1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, status, 0);
	return false;
}

/*
 * A page server that never answers: a signal whose handler sets the flag
 * given to vmtrack_ps_set_stop() ends the wait with -EINTR, and so does the
 * flag set before the wait began; a signal with the flag left clear does
 * not.
 * In children, so that a wait that never ends is a failure after 10 s
 * rather than a hung test.
 */
static void test_ps_stop(void)
{
	static volatile sig_atomic_t never, stopped_before = SIGINT;
	int fd, status = 0;
	char addr[64];

	fd = silent_server(addr, sizeof(addr));
	if (fd < 0)
		return;

	/* a signal the caller does not stop on: the wait goes on */
	CHECK(!ps_wait(ps_begin_child(addr, &never, 1, true), 30, &status));
	CHECK(ps_wait(ps_begin_child(addr, &ps_alarm, 1, true), 100, &status));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* the signal came before the wait began: it interrupts nothing */
	CHECK(ps_wait(ps_begin_child(addr, &stopped_before, 0, false), 100, &status));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(fd);
}

/*
 * The same server, with vmtrack_ps_set_timeout(): vmtrack_ps_begin() gives
 * up after the timeout, not before, with -ETIMEDOUT and a message that
 * says how long nothing moved. In a child that exits 0 if so.
 */
static pid_t ps_timeout_child(const char *addr)
{
	struct vmtrack_ps *ps = NULL;
	struct timespec t0, t1;
	char err[256];
	double waited;
	pid_t pid;
	int ret;

	pid = fork();
	if (pid)
		return pid;
	vmtrack_ps_set_timeout(500);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = vmtrack_ps_begin(&ps, addr, 32, 1, false, err, sizeof(err));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	waited = t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (ret != -ETIMEDOUT || waited < 0.5 ||
	    !strstr(err, "open: nothing sent or received for 1 s (wrong header size?)")) {
		fprintf(stderr, "# ret %d after %.2f s: %s\n", ret, waited, err);
		_exit(1);
	}
	_exit(0);
}

static void test_ps_timeout(void)
{
	int fd, status = 0;
	char addr[64];

	fd = silent_server(addr, sizeof(addr));
	if (fd < 0)
		return;
	CHECK(ps_wait(ps_timeout_child(addr), 100, &status));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(fd);
}

/* ---- images ---- */

/* fill @page with a pattern from (iteration, address) */
static void pattern(uint8_t *page, int iter, uint64_t addr)
{
	uint64_t x = addr * 2654435761ULL ^ (uint64_t)iter << 40;
	size_t i;

	for (i = 0; i < PG; i += 8) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		memcpy(page + i, &x, 8);
	}
}

#define IMG_PAGES	64

/*
 * A model memory of IMG_PAGES pages: present[] tells which the image holds,
 * ver[] the iteration whose pattern a page has. Each iteration changes,
 * drops and adds random pages, and writes what changed as present and the
 * rest as holes.
 */
static int write_iter(const char *dir, int iter, const bool *present, const bool *changed)
{
	struct vmtrack_img_writer *w;
	char name[16], parent[16], err[256];
	uint8_t page[PG];
	int i, ret;

	snprintf(name, sizeof(name), "%d", iter);
	snprintf(parent, sizeof(parent), "%d", iter - 1);
	ret = vmtrack_img_begin(&w, dir, name, iter > 1 ? parent : NULL, 1234, err, sizeof(err));
	if (ret)
		return ret;
	for (i = 0; i < IMG_PAGES && !ret; i++) {
		uint64_t a = BASE + i * PG;

		if (!present[i])
			continue;
		if (changed[i]) {
			pattern(page, iter, a);
			ret = vmtrack_img_present(w, a, 1, page);
		} else {
			ret = vmtrack_img_hole(w, a, 1);
		}
	}
	if (!ret)
		ret = vmtrack_img_commit(w, 123456789);
	if (ret)
		vmtrack_img_abort(w);
	return ret;
}

static bool chain_matches(const char *dir, int iter, const bool *present, const int *ver)
{
	struct vmtrack_img *img;
	uint8_t got[PG], want[PG];
	char path[PATH_MAX], err[256];
	bool ok = true;
	int i, r;

	snprintf(path, sizeof(path), "%s/%d", dir, iter);
	if (vmtrack_chain_load(&img, path, 1234, err, sizeof(err))) {
		printf("#   %s\n", err);
		return false;
	}
	for (i = 0; i < IMG_PAGES && ok; i++) {
		r = vmtrack_chain_page(img, BASE + i * PG, got);
		if (r != (present[i] ? 1 : 0)) {
			printf("#   page %d: chain says %d, model %d\n", i, r, present[i]);
			ok = false;
		} else if (r == 1) {
			pattern(want, ver[i], BASE + i * PG);
			ok = !memcmp(got, want, PG);
			if (!ok)
				printf("#   page %d differs (iteration %d)\n", i, ver[i]);
		}
	}
	CHECK_EQ(img->dump_uptime, 123456789);
	CHECK_EQ(img->pre_dump_mode, VMTRACK_PRE_DUMP_READ);
	vmtrack_img_free(img);
	return ok;
}

static void test_image_chain(void)
{
	bool present[IMG_PAGES] = { 0 }, changed[IMG_PAGES];
	int ver[IMG_PAGES] = { 0 }, iter, i;
	const char *dir = fresh_dir("chain");
	char path[PATH_MAX];
	struct stat st;

	for (iter = 1; iter <= 6; iter++) {
		for (i = 0; i < IMG_PAGES; i++) {
			uint64_t x = rnd() % 10;

			if (iter == 1) {
				present[i] = x < 7;
				changed[i] = true;
			} else if (!present[i]) {
				present[i] = changed[i] = x < 2;	/* new page */
			} else {
				present[i] = x != 0;			/* dropped */
				changed[i] = x >= 7;
			}
			if (present[i] && changed[i])
				ver[i] = iter;
		}
		CHECK_EQ(write_iter(dir, iter, present, changed), 0);
		CHECK(chain_matches(dir, iter, present, ver));
		snprintf(path, sizeof(path), "%s/.%d.partial", dir, iter);
		CHECK(stat(path, &st) && errno == ENOENT);
	}
	/* a hole in the first iteration has no parent */
	{
		struct vmtrack_img_writer *w;
		char err[256];

		CHECK_EQ(vmtrack_img_begin(&w, dir, "x", NULL, 1234, err, sizeof(err)), 0);
		CHECK_EQ(vmtrack_img_hole(w, BASE, 1), -EINVAL);
		vmtrack_img_abort(w);
	}
}

/*
 * A task the parent iteration has no image of (a child forked since): its
 * chain ends there, as CRIU reads it, so its pages must all be present.
 */
static void test_image_task_absent(void)
{
	bool present[IMG_PAGES], all[IMG_PAGES], some[IMG_PAGES];
	int ver[IMG_PAGES], i;
	const char *dir = fresh_dir("absent");
	char path[PATH_MAX], err[256];
	struct vmtrack_img *img;

	for (i = 0; i < IMG_PAGES; i++) {
		present[i] = i % 4 != 0;
		all[i] = true;
		some[i] = i % 2 == 0;
		ver[i] = 2;
	}
	CHECK_EQ(write_iter(dir, 1, present, all), 0);
	CHECK_EQ(write_iter(dir, 2, present, all), 0);
	CHECK_EQ(write_iter(dir, 3, present, some), 0);
	snprintf(path, sizeof(path), "%s/1/pagemap-1234.img", dir);
	CHECK_EQ(unlink(path), 0);
	/* 2 has no holes: the chain is 2 alone */
	CHECK(chain_matches(dir, 2, present, ver));
	/* 3's holes are in 2 */
	for (i = 0; i < IMG_PAGES; i++)
		ver[i] = some[i] ? 3 : 2;
	CHECK(chain_matches(dir, 3, present, ver));
	/* without 2's image, 3's holes are in no parent */
	snprintf(path, sizeof(path), "%s/2/pagemap-1234.img", dir);
	CHECK_EQ(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/3", dir);
	CHECK_EQ(vmtrack_chain_load(&img, path, 1234, err, sizeof(err)), -EBADMSG);
	CHECK(strstr(err, "not in the parent"));
	/* a parent link to no directory is an error, not the chain's end */
	snprintf(path, sizeof(path), "%s/2", dir);
	rm_rf(path);
	snprintf(path, sizeof(path), "%s/3", dir);
	CHECK(vmtrack_chain_load(&img, path, 1234, err, sizeof(err)) != 0);
	CHECK(!strstr(err, "not in the parent"));
}

/*
 * Thousands of entries, more than the writer buffers before a write():
 * iteration 1 every other page of MANY_PAGES, iteration 2 the same pages
 * as holes and copies in turn, so that no two entries merge.
 */
#define MANY_PAGES	12000

static void test_image_many_entries(void)
{
	const char *dir = fresh_dir("many");
	struct vmtrack_img_writer *w;
	struct vmtrack_img *img;
	char err[256], path[PATH_MAX];
	uint8_t page[PG], want[PG];
	int iter, i, ret = 0, bad = 0;

	for (iter = 1; iter <= 2; iter++) {
		snprintf(path, sizeof(path), "%d", iter);
		CHECK_EQ(vmtrack_img_begin(&w, dir, path, iter > 1 ? "1" : NULL, 1234, err,
					   sizeof(err)), 0);
		for (i = 0; i < MANY_PAGES && !ret; i += 2) {
			uint64_t a = BASE + (uint64_t)i * PG;

			if (iter == 2 && i % 4 == 0) {
				ret = vmtrack_img_hole(w, a, 1);
				continue;
			}
			pattern(page, iter, a);
			ret = vmtrack_img_present(w, a, 1, page);
		}
		CHECK_EQ(ret, 0);
		CHECK_EQ(vmtrack_img_commit(w, 1), 0);
	}
	snprintf(path, sizeof(path), "%s/2", dir);
	CHECK_EQ(vmtrack_img_load(&img, path, 1234, err, sizeof(err)), 0);
	CHECK_EQ(img->n, MANY_PAGES / 2);
	vmtrack_img_free(img);
	CHECK_EQ(vmtrack_chain_load(&img, path, 1234, err, sizeof(err)), 0);
	for (i = 0; i < MANY_PAGES; i++) {
		uint64_t a = BASE + (uint64_t)i * PG;

		ret = vmtrack_chain_page(img, a, page);
		if (i % 2) {
			bad += ret != 0;
			continue;
		}
		pattern(want, i % 4 ? 2 : 1, a);
		bad += ret != 1 || memcmp(page, want, PG);
	}
	CHECK_EQ(bad, 0);
	vmtrack_img_free(img);
}

static void test_image_writer_rules(void)
{
	const char *dir = fresh_dir("rules");
	struct vmtrack_img_writer *w;
	uint8_t page[2 * PG] = { 1 };
	char err[256], path[PATH_MAX];
	struct vmtrack_img *img;
	struct stat st;

	CHECK_EQ(vmtrack_img_begin(&w, dir, "1", NULL, 7, err, sizeof(err)), 0);
	/* adjacent runs merge into one entry */
	CHECK_EQ(vmtrack_img_present(w, BASE, 1, page), 0);
	CHECK_EQ(vmtrack_img_present(w, BASE + PG, 1, page), 0);
	CHECK_EQ(vmtrack_img_present(w, BASE + 4 * PG, 2, page), 0);
	CHECK_EQ(vmtrack_img_present(w, BASE + 4 * PG, 1, page), -EINVAL);	/* overlap */
	CHECK_EQ(vmtrack_img_present(w, BASE + 100, 1, page), -EINVAL);	/* alignment */
	CHECK_EQ(vmtrack_img_present(w, BASE + 9 * PG, 0, page), -EINVAL);	/* empty */
	/* nothing visible before the commit */
	snprintf(path, sizeof(path), "%s/1", dir);
	CHECK(stat(path, &st) && errno == ENOENT);
	CHECK_EQ(vmtrack_img_commit(w, 1), 0);
	CHECK_EQ(vmtrack_img_load(&img, path, 7, err, sizeof(err)), 0);
	CHECK_EQ(img->n, 2);
	CHECK_EQ(img->e[0].nr_pages, 2);
	CHECK_EQ(img->e[1].off, 2 * PG);
	vmtrack_img_free(img);
	/* an existing iteration is not overwritten */
	CHECK_EQ(vmtrack_img_begin(&w, dir, "1", NULL, 7, err, sizeof(err)), 0);
	CHECK(vmtrack_img_commit(w, 1) != 0);
	vmtrack_img_abort(w);
	snprintf(path, sizeof(path), "%s/.1.partial", dir);
	CHECK(stat(path, &st) && errno == ENOENT);
	/* abort leaves nothing */
	CHECK_EQ(vmtrack_img_begin(&w, dir, "2", "1", 7, err, sizeof(err)), 0);
	CHECK_EQ(vmtrack_img_present(w, BASE, 1, page), 0);
	vmtrack_img_abort(w);
	snprintf(path, sizeof(path), "%s/.2.partial", dir);
	CHECK(stat(path, &st) && errno == ENOENT);
	/* remove */
	CHECK_EQ(vmtrack_img_remove(dir, "1", 7), 0);
	snprintf(path, sizeof(path), "%s/1", dir);
	CHECK(stat(path, &st) && errno == ENOENT);
}

static int write_file(const char *dir, const char *name, const void *buf, size_t len)
{
	char path[PATH_MAX + 64];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "we");
	if (!f)
		return -1;
	if (len && fwrite(buf, len, 1, f) != 1) {
		fclose(f);
		return -1;
	}
	return fclose(f);
}

static size_t read_whole(const char *dir, const char *name, uint8_t *buf, size_t max)
{
	char path[PATH_MAX + 64];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "re");
	if (!f)
		return 0;
	n = fread(buf, 1, max, f);
	fclose(f);
	return n;
}

static void test_image_corrupt(void)
{
	const char *dir = fresh_dir("corrupt");
	bool present[IMG_PAGES], changed[IMG_PAGES];
	uint8_t pm[4096], bad[4096];
	char path[PATH_MAX], err[256];
	struct vmtrack_img *img;
	size_t len, cut;
	int i, bad_loads = 0;

	for (i = 0; i < IMG_PAGES; i++)
		present[i] = changed[i] = i % 3 != 0;
	CHECK_EQ(write_iter(dir, 1, present, changed), 0);
	/* the last entry is a present one: no truncation can go unseen */
	for (i = 0; i < IMG_PAGES; i++)
		changed[i] = i % 5 == 0 || i == IMG_PAGES - 2;
	CHECK_EQ(write_iter(dir, 2, present, changed), 0);
	snprintf(path, sizeof(path), "%s/2", dir);
	len = read_whole(path, "pagemap-1234.img", pm, sizeof(pm));
	CHECK(len > 20);

	/* every truncation of the pagemap but at a record boundary is refused */
	for (cut = 0; cut < len; cut++) {
		write_file(path, "pagemap-1234.img", pm, cut);
		if (vmtrack_chain_load(&img, path, 1234, err, sizeof(err)))
			bad_loads++;
		else
			vmtrack_img_free(img);
	}
	/* a cut between records drops entries: then pages-1.img is too long */
	CHECK_EQ(bad_loads, cut);

	/* bad magic */
	memcpy(bad, pm, len);
	bad[0] ^= 1;
	write_file(path, "pagemap-1234.img", bad, len);
	CHECK(vmtrack_chain_load(&img, path, 1234, err, sizeof(err)) == -EBADMSG);
	CHECK(strstr(err, "magic") != NULL);

	/* random garbage after the magics never crashes and is refused */
	for (i = 0; i < 500; i++) {
		size_t k;

		memcpy(bad, pm, len);
		for (k = 8; k < len; k++)
			if (rnd() % 4 == 0)
				bad[k] = rnd();
		write_file(path, "pagemap-1234.img", bad, len);
		if (!vmtrack_chain_load(&img, path, 1234, err, sizeof(err))) {
			/* garbage that still decodes must satisfy every check */
			vmtrack_img_free(img);
		}
	}

	/* intact again, then a truncated pages file */
	write_file(path, "pagemap-1234.img", pm, len);
	CHECK_EQ(vmtrack_chain_load(&img, path, 1234, err, sizeof(err)), 0);
	vmtrack_img_free(img);
	snprintf(path, sizeof(path), "%s/2/pages-1.img", dir);
	CHECK_EQ(truncate(path, PG), 0);
	snprintf(path, sizeof(path), "%s/2", dir);
	CHECK(vmtrack_chain_load(&img, path, 1234, err, sizeof(err)) == -EBADMSG);

	/* a hole the parent does not hold */
	snprintf(path, sizeof(path), "%s/1/pagemap-1234.img", dir);
	{
		uint8_t one[4096];
		size_t n = read_whole(dir, "1/pagemap-1234.img", one, sizeof(one));
		uint32_t l;

		/* drop the last entry of the parent; cut its pages too */
		size_t pos = 8, last = 0;

		while (pos + 4 <= n) {
			memcpy(&l, one + pos, 4);
			last = pos;
			pos += 4 + l;
		}
		write_file(dir, "1/pagemap-1234.img", one, last);
		snprintf(path, sizeof(path), "%s/1/pages-1.img", dir);
		for (i = 0, n = 0; i < IMG_PAGES; i++)
			n += present[i];
		/* the parent's last entry is pages 61-62 */
		CHECK_EQ(truncate(path, (off_t)(n - 2) * PG), 0);
	}
	write_iter(fresh_dir("corrupt2"), 1, present, present);
	snprintf(path, sizeof(path), "%s/2", dir);
	CHECK(vmtrack_chain_load(&img, path, 1234, err, sizeof(err)) != 0);

	/* no inventory (as from a page server): no uptime; a bad one: refused */
	snprintf(path, sizeof(path), "%s/corrupt2/1/inventory.img", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/corrupt2/1", tmpdir);
	CHECK_EQ(vmtrack_img_load(&img, path, 1234, err, sizeof(err)), 0);
	if (!test_failed) {
		CHECK_EQ(img->dump_uptime, 0);
		vmtrack_img_free(img);
	}
	write_file(path, "inventory.img", "\x16\x31\x31\x58\x09", 5);
	CHECK_EQ(vmtrack_img_load(&img, path, 1234, err, sizeof(err)), -EBADMSG);
}

/* the image of CRIU 4.2 (compat 0, field 5) and of crit 3.17 (field 2 only) */
static void test_image_nr_pages_fields(void)
{
	const char *dir = fresh_dir("fields");
	uint8_t buf[256], page[PG] = { 0 };
	struct vmtrack_img *img;
	char err[256];
	size_t n = 0;
	uint32_t v;

	v = VMTRACK_IMG_COMMON_MAGIC;
	memcpy(buf, &v, 4);
	v = VMTRACK_IMG_PAGEMAP_MAGIC;
	memcpy(buf + 4, &v, 4);
	n = 8;
	/* head: pages_id 1 */
	v = 2;
	memcpy(buf + n, &v, 4);
	buf[n + 4] = 0x08;
	buf[n + 5] = 1;
	n += 6;
	/* 4.2: vaddr 0x1000, compat 0, flags 4, nr_pages 1 */
	{
		static const uint8_t e42[] = {
			0x08, 0x80, 0x20, 0x10, 0x00, 0x20, 0x04, 0x28, 0x01
		};
		/* 3.17: vaddr 0x2000, nr_pages 1 in field 2, flags 4 */
		static const uint8_t e317[] = { 0x08, 0x80, 0x40, 0x10, 0x01, 0x20, 0x04 };

		v = sizeof(e42);
		memcpy(buf + n, &v, 4);
		memcpy(buf + n + 4, e42, sizeof(e42));
		n += 4 + sizeof(e42);
		v = sizeof(e317);
		memcpy(buf + n, &v, 4);
		memcpy(buf + n + 4, e317, sizeof(e317));
		n += 4 + sizeof(e317);
	}
	write_file(dir, "pagemap-5.img", buf, n);
	write_file(dir, "pages-1.img", page, PG);
	write_file(dir, "pages-1.img", buf, 0);
	{
		uint8_t two[2 * PG] = { 0 };

		write_file(dir, "pages-1.img", two, sizeof(two));
	}
	{
		uint8_t inv[16];
		size_t k;

		v = VMTRACK_IMG_INVENTORY_MAGIC;
		memcpy(inv, &v, 4);
		k = vmtrack_pb_inventory(inv + 8, 5);
		v = k;
		memcpy(inv + 4, &v, 4);
		write_file(dir, "inventory.img", inv, 8 + k);
	}
	CHECK_EQ(vmtrack_img_load(&img, dir, 5, err, sizeof(err)), 0);
	if (!test_failed) {
		CHECK_EQ(img->n, 2);
		CHECK_EQ(img->e[0].nr_pages, 1);
		CHECK_EQ(img->e[1].nr_pages, 1);
		CHECK_EQ(img->e[1].off, PG);
		vmtrack_img_free(img);
	}
}

/* ---- copier and pagemap on our own memory ---- */

struct collect {
	uint8_t		*mem;		/* copy target, indexed from base */
	uint64_t	base;
	uint64_t	holes;
	uint64_t	last;
	int		order_errors;
};

static int collect_fn(void *ctx, uint64_t vaddr, uint64_t nr, const void *data)
{
	struct collect *c = ctx;

	if (vaddr < c->last)
		c->order_errors++;
	c->last = vaddr + nr * PG;
	if (!data)
		c->holes += nr;
	else
		memcpy(c->mem + (vaddr - c->base), data, nr * PG);
	return 0;
}

static void test_copier(void)
{
	size_t npages = 40, i;
	uint8_t *src = mmap(NULL, npages * PG, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *dst = calloc(npages, PG);
	struct collect c = { .mem = dst, .base = (uintptr_t)src };
	struct vmtrack_copy_stats st = { 0 };
	struct vmtrack_copier *cp;
	struct vmtrack_seg segs[3];
	const struct vmtrack_pset *gone;

	CHECK(src != MAP_FAILED && dst);
	for (i = 0; i < npages; i++)
		pattern(src + i * PG, 1, i);
	/*
	 * pages 10 and 11 go away; 30 becomes PROT_NONE: process_vm_readv()
	 * cannot read it, /proc/PID/mem can, and a checkpoint keeps it
	 */
	munmap(src + 10 * PG, 2 * PG);
	mprotect(src + 30 * PG, PG, PROT_NONE);
	segs[0] = (struct vmtrack_seg){ (uintptr_t)src, (uintptr_t)src + 20 * PG,
					VMTRACK_SEG_COPY };
	segs[1] = (struct vmtrack_seg){ (uintptr_t)src + 20 * PG, (uintptr_t)src + 25 * PG,
					VMTRACK_SEG_HOLE };
	segs[2] = (struct vmtrack_seg){ (uintptr_t)src + 25 * PG, (uintptr_t)src + npages * PG,
					VMTRACK_SEG_COPY };
	/* a 3-page buffer: many batches */
	cp = vmtrack_copier_new(getpid(), 3 * PG);
	CHECK(cp != NULL);
	CHECK_EQ(vmtrack_copier_run(cp, segs, 3, collect_fn, &c, &st), 0);
	CHECK_EQ(c.order_errors, 0);
	CHECK_EQ(st.holes, 5);
	CHECK_EQ(st.gone, 2);
	CHECK_EQ(st.pages, npages - 5 - 2);
	gone = vmtrack_copier_gone(cp);
	CHECK_EQ(gone->n, 1);
	CHECK_EQ(gone->r[0].start, (uintptr_t)src + 10 * PG);
	CHECK_EQ(gone->r[0].end, (uintptr_t)src + 12 * PG);
	for (i = 0; i < npages; i++) {
		uint8_t want[PG];

		if ((i >= 10 && i < 12) || (i >= 20 && i < 25))
			continue;
		pattern(want, 1, i);
		if (memcmp(dst + i * PG, want, PG)) {
			printf("#   page %zu differs\n", i);
			test_failed = 1;
		}
	}
	/* at most one process_vm_readv per 3 pages, plus one per failed page */
	CHECK(st.calls <= (npages - 5) / 3 + 1 + 3 + 2);
	vmtrack_copier_free(cp);
	munmap(src, npages * PG);
	free(dst);
}

static uint64_t pfn_of(const void *p)
{
	uint64_t pme = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd >= 0) {
		if (pread(fd, &pme, sizeof(pme), (uintptr_t)p / PG * sizeof(pme)) != sizeof(pme))
			pme = 0;
		close(fd);
	}
	return pme & VMTRACK_PME_PFN_MASK;
}

/* read-fault @b too: the same non-zero PFN as @a means the zero page */
static bool zero_page_shared(const uint8_t *a, const uint8_t *b)
{
	volatile uint8_t x = *b;

	(void)x;
	return pfn_of(a) && pfn_of(a) == pfn_of(b);
}

static void test_pagemap_select(void)
{
	size_t npages = 16;
	uint8_t *m = mmap(NULL, npages * PG, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct vmtrack_pagemap *pm;
	struct vmtrack_pset in, out;
	volatile uint8_t sink;
	char err[256];

	vmtrack_pset_init(&in);
	vmtrack_pset_init(&out);
	m[0] = 1;
	m[5 * PG] = 1;
	m[6 * PG] = 1;
	sink = m[9 * PG];	/* read fault: the zero page */
	(void)sink;
	CHECK_EQ(vmtrack_pagemap_open(&pm, getpid(), err, sizeof(err)), 0);
	vmtrack_pset_append(&in, (uintptr_t)m, (uintptr_t)m + npages * PG);
	CHECK_EQ(vmtrack_pagemap_select(pm, &in, &out), 0);
	/*
	 * A read fault maps the shared zero page, unless the kernel gives a
	 * private page (seen on some hosts): then it is dumped, as by CRIU.
	 * Without CAP_SYS_ADMIN the PFNs read as 0 and it looks present too.
	 */
	if (zero_page_shared(m + 9 * PG, m + 10 * PG)) {
		CHECK_EQ(out.n, 2);
	} else {
		CHECK_EQ(out.n, 3);
		if (out.n == 3)
			CHECK_EQ(out.r[2].start, (uintptr_t)m + 9 * PG);
	}
	CHECK_EQ(out.r[0].start, (uintptr_t)m);
	CHECK_EQ(out.r[0].end, (uintptr_t)m + PG);
	CHECK_EQ(out.r[1].start, (uintptr_t)m + 5 * PG);
	CHECK_EQ(out.r[1].end, (uintptr_t)m + 7 * PG);
	/* the rule itself */
	CHECK(!vmtrack_pme_dumpable(VMTRACK_PME_PRESENT | VMTRACK_PME_FILE | 5, true, 9));
	CHECK(vmtrack_pme_dumpable(VMTRACK_PME_PRESENT | 5, true, 9));
	CHECK(vmtrack_pme_dumpable(VMTRACK_PME_SWAP | 9, false, 9));
	CHECK(!vmtrack_pme_dumpable(VMTRACK_PME_PRESENT | 9, false, 9));
	CHECK(!vmtrack_pme_dumpable(0, false, 9));
	vmtrack_pagemap_close(pm);
	vmtrack_pset_free(&in);
	vmtrack_pset_free(&out);
	munmap(m, npages * PG);
}

/* ---- convergence ---- */

static void test_converge(void)
{
	struct vmtrack_converge c;

	/* max iterations: 3 in all, so after the second copy freeze */
	vmtrack_converge_init(&c, 3, 10, 0, PG);
	vmtrack_converge_copied(&c, 1000, 1.0);
	CHECK_EQ(vmtrack_converge_check(&c, 500), VMTRACK_STOP_NO);
	vmtrack_converge_copied(&c, 500, 0.5);
	CHECK_EQ(vmtrack_converge_check(&c, 400), VMTRACK_STOP_MAX_ITER);
	/* threshold */
	vmtrack_converge_init(&c, 8, 10, 0, PG);
	vmtrack_converge_copied(&c, 1000, 1.0);
	CHECK_EQ(vmtrack_converge_check(&c, 11), VMTRACK_STOP_NO);
	CHECK_EQ(vmtrack_converge_check(&c, 10), VMTRACK_STOP_THRESHOLD);
	/* not shrinking */
	CHECK_EQ(vmtrack_converge_check(&c, 1000), VMTRACK_STOP_NOT_SHRINKING);
	vmtrack_converge_copied(&c, 300, 0.3);
	CHECK_EQ(vmtrack_converge_check(&c, 299), VMTRACK_STOP_NO);
	CHECK_EQ(vmtrack_converge_check(&c, 301), VMTRACK_STOP_NOT_SHRINKING);
	/* downtime: 1300 pages in 1.3 s = 1000 pages/s: 200 ms holds 200 pages */
	vmtrack_converge_init(&c, 8, 10, 200, PG);
	vmtrack_converge_copied(&c, 1000, 1.0);
	vmtrack_converge_copied(&c, 300, 0.3);
	CHECK(vmtrack_converge_bandwidth(&c) > 999 * PG &&
	      vmtrack_converge_bandwidth(&c) < 1001 * PG);
	CHECK_EQ(vmtrack_converge_check(&c, 201), VMTRACK_STOP_NO);
	CHECK_EQ(vmtrack_converge_check(&c, 199), VMTRACK_STOP_DOWNTIME);
	CHECK_EQ(vmtrack_converge_check(&c, 151), VMTRACK_STOP_DOWNTIME);
	/* it fits, but the last copy halved what is left: one more iteration */
	CHECK_EQ(vmtrack_converge_check(&c, 150), VMTRACK_STOP_NO);
	CHECK_EQ(vmtrack_converge_check(&c, 11), VMTRACK_STOP_NO);
	/* no bandwidth known: the rule does not fire */
	vmtrack_converge_init(&c, 8, 0, 100, PG);
	vmtrack_converge_copied(&c, 0, 0);
	CHECK(vmtrack_converge_estimate_ms(&c, 5) < 0);
	CHECK_EQ(vmtrack_converge_check(&c, 0), VMTRACK_STOP_THRESHOLD);
	/* one iteration in all: the first copy is the frozen one */
	vmtrack_converge_init(&c, 1, 0, 0, PG);
	vmtrack_converge_copied(&c, 10, 0.1);
	CHECK_EQ(vmtrack_converge_check(&c, 5), VMTRACK_STOP_MAX_ITER);
	CHECK(!strcmp(vmtrack_stop_name(VMTRACK_STOP_DOWNTIME), "downtime"));
}

/* the local half of a dump sent to a page server: inventory and parent only */
static void test_image_local(void)
{
	const char *dir = fresh_dir("local");
	uint8_t want[64], got[128];
	char path[PATH_MAX], link[16], err[256];
	ssize_t n, len;
	struct stat st;
	int fd;

	CHECK_EQ(vmtrack_img_write_local(dir, "1", NULL, 123456789, err, sizeof(err)), 0);
	CHECK_EQ(vmtrack_img_write_local(dir, "2", "1", 987654321, err, sizeof(err)), 0);
	/* inventory.img: INVENTORY_MAGIC, length, the message */
	len = vmtrack_pb_inventory(want + 8, 987654321);
	memcpy(want, &(uint32_t){ VMTRACK_IMG_INVENTORY_MAGIC }, 4);
	memcpy(want + 4, &(uint32_t){ len }, 4);
	snprintf(path, sizeof(path), "%s/2/inventory.img", dir);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	n = fd >= 0 ? read(fd, got, sizeof(got)) : -1;
	if (fd >= 0)
		close(fd);
	CHECK_EQ(n, len + 8);
	CHECK(n == len + 8 && !memcmp(got, want, n));
	snprintf(path, sizeof(path), "%s/2/parent", dir);
	n = readlink(path, link, sizeof(link) - 1);
	CHECK(n == 4 && !memcmp(link, "../1", 4));
	snprintf(path, sizeof(path), "%s/1/parent", dir);
	CHECK(lstat(path, &st) && errno == ENOENT);
	/* no pages and no pagemap: the server has them */
	snprintf(path, sizeof(path), "%s/2/pages-1.img", dir);
	CHECK(stat(path, &st) && errno == ENOENT);
	snprintf(path, sizeof(path), "%s/2/pagemap-0.img", dir);
	CHECK(stat(path, &st) && errno == ENOENT);
	snprintf(path, sizeof(path), "%s/.2.partial", dir);
	CHECK(stat(path, &st) && errno == ENOENT);
	/* an existing name is refused, and nothing is left of the attempt */
	CHECK(vmtrack_img_write_local(dir, "2", "1", 1, err, sizeof(err)) < 0);
	CHECK(stat(path, &st) && errno == ENOENT);
	CHECK_EQ(vmtrack_img_remove(dir, "2", 0), 0);
	CHECK_EQ(vmtrack_img_remove(dir, "1", 0), 0);
}

/* segments: holes and copies in address order, one per run of a kind */
static void test_segs(void)
{
	static const struct { uint64_t start, end; int kind; } want[] = {
		{ 0, 2, VMTRACK_SEG_HOLE }, { 2, 4, VMTRACK_SEG_COPY },
		{ 4, 9, VMTRACK_SEG_HOLE }, { 9, 10, VMTRACK_SEG_COPY },
		{ 20, 21, VMTRACK_SEG_COPY }, { 21, 25, VMTRACK_SEG_HOLE },
	};
	struct vmtrack_pset all, copy;
	struct vmtrack_segs segs = { 0 };
	size_t i;

	vmtrack_pset_init(&all);
	vmtrack_pset_init(&copy);
	vmtrack_pset_append(&all, BASE, BASE + 10 * PG);
	vmtrack_pset_append(&all, BASE + 20 * PG, BASE + 25 * PG);
	vmtrack_pset_append(&copy, BASE + 2 * PG, BASE + 4 * PG);
	vmtrack_pset_append(&copy, BASE + 9 * PG, BASE + 21 * PG);
	CHECK_EQ(vmtrack_segs_build(&segs, &all, &copy), 0);
	CHECK_EQ(segs.n, ARRAY_SIZE(want));
	for (i = 0; i < segs.n && i < ARRAY_SIZE(want); i++) {
		CHECK_EQ(segs.v[i].start, BASE + want[i].start * PG);
		CHECK_EQ(segs.v[i].end, BASE + want[i].end * PG);
		CHECK_EQ(segs.v[i].kind, want[i].kind);
	}
	/* reused: nothing to copy is one hole per range */
	vmtrack_pset_clear(&copy);
	CHECK_EQ(vmtrack_segs_build(&segs, &all, &copy), 0);
	CHECK_EQ(segs.n, 2UL);
	vmtrack_segs_free(&segs);
	vmtrack_pset_free(&all);
	vmtrack_pset_free(&copy);
}

/* what a copier hands on: one record per call, and a checksum of the data */
struct calls {
	uint64_t	v[3 * 512];
	size_t		n;
};

static int record_fn(void *ctx, uint64_t vaddr, uint64_t nr, const void *data)
{
	struct calls *c = ctx;
	uint64_t sum = 0;
	size_t i;

	for (i = 0; data && i < nr * PG; i += 8)
		sum = sum * 31 + ((const uint8_t *)data)[i];
	if (c->n + 3 > ARRAY_SIZE(c->v))
		return -E2BIG;
	c->v[c->n++] = vaddr;
	c->v[c->n++] = nr;
	c->v[c->n++] = data ? sum | 1 : 0;
	return 0;
}

/* random page sets within [base, base + @npages pages) */
static void random_pset(struct vmtrack_pset *s, uint64_t base, size_t npages, int in_of_10)
{
	size_t i;

	vmtrack_pset_clear(s);
	for (i = 0; i < npages; i++)
		if ((int)(rnd() % 10) < in_of_10)
			vmtrack_pset_append(s, base + i * PG, base + (i + 1) * PG);
}

/*
 * vmtrack_copier_run_sets() against vmtrack_copier_run() of the segments
 * vmtrack_segs_build() makes: the same calls with the same data, for random
 * sets and a buffer of a few pages.
 */
static void test_copier_sets(void)
{
	size_t npages = 200, i, round, differ = 0;
	uint8_t *src = mmap(NULL, npages * PG, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	static struct calls a, b;
	struct vmtrack_pset all, some, copy;
	struct vmtrack_segs segs = { 0 };
	struct vmtrack_copy_stats st = { 0 };
	struct vmtrack_copier *cp = vmtrack_copier_new(getpid(), 5 * PG);
	uint64_t base = (uintptr_t)src;

	CHECK(src != MAP_FAILED && cp);
	for (i = 0; i < npages; i++)
		pattern(src + i * PG, 3, i);
	vmtrack_pset_init(&all);
	vmtrack_pset_init(&some);
	vmtrack_pset_init(&copy);
	for (round = 0; round < 50; round++) {
		random_pset(&all, base, npages, 1 + round % 9);
		random_pset(&some, base, npages, 1 + round % 7);
		CHECK_EQ(vmtrack_pset_and(&copy, &all, &some), 0);
		CHECK_EQ(vmtrack_segs_build(&segs, &all, &copy), 0);
		a.n = b.n = 0;
		CHECK_EQ(vmtrack_copier_run(cp, segs.v, segs.n, record_fn, &a, &st), 0);
		CHECK_EQ(vmtrack_copier_run_sets(cp, &all, &copy, record_fn, &b, &st), 0);
		differ += a.n != b.n || memcmp(a.v, b.v, a.n * sizeof(a.v[0]));
	}
	CHECK_EQ(differ, 0);
	/* nothing at all, and nothing to copy */
	vmtrack_pset_clear(&all);
	b.n = 0;
	CHECK_EQ(vmtrack_copier_run_sets(cp, &all, &copy, record_fn, &b, &st), 0);
	CHECK_EQ(b.n, 0);
	vmtrack_pset_append(&all, base, base + npages * PG);
	vmtrack_pset_clear(&copy);
	CHECK_EQ(vmtrack_copier_run_sets(cp, &all, &copy, record_fn, &b, &st), 0);
	CHECK(b.n == 3 && b.v[0] == base && b.v[1] == npages && !b.v[2]);
	vmtrack_segs_free(&segs);
	vmtrack_pset_free(&all);
	vmtrack_pset_free(&some);
	vmtrack_pset_free(&copy);
	vmtrack_copier_free(cp);
	munmap(src, npages * PG);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "%s/vmtrack-dump-unit.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	printf("TAP version 13\n");
	run_test("page sets: and, sub, or against a bitmap model", test_pset_model);
	run_test("protobuf: pagemap_entry and inventory_entry bytes", test_pb_encoding);
	run_test("page server: request header of CRIU <= 4.1 and >= 4.2", test_ps_header);
	run_test("page server: addresses, ports from 1 to 65535", test_ps_addr);
	run_test("page server: a signal ends the wait for a server that never answers",
		 test_ps_stop);
	run_test("page server: a timeout ends the wait for a server that never answers",
		 test_ps_timeout);
	run_test("images: six iterations with holes, drops and new pages rebuild the model",
		 test_image_chain);
	run_test("images: a parent without the task's image ends its chain, as for CRIU",
		 test_image_task_absent);
	run_test("images: 6000 entries an iteration, none merged, rebuild the pages",
		 test_image_many_entries);
	run_test("images: writer merges, refuses overlap and misalignment, commit/abort/remove",
		 test_image_writer_rules);
	run_test("images: truncated, garbage, bad magic, short pages file, uncovered hole, "
		 "missing or bad inventory", test_image_corrupt);
	run_test("images: nr_pages in field 5 (CRIU 4.2) or field 2 only (crit 3.17)",
		 test_image_nr_pages_fields);
	run_test("images: the local half of a page-server dump (inventory, parent link)",
		 test_image_local);
	run_test("segments: holes and copies of an iteration", test_segs);
	run_test("copier: small buffer, holes, unmapped and PROT_NONE pages", test_copier);
	run_test("copier: the segments of two page sets taken as it goes, as from an array",
		 test_copier_sets);
	run_test("pagemap: present anonymous pages, zero page, the CRIU rule",
		 test_pagemap_select);
	run_test("convergence: max iterations, threshold, not shrinking, downtime",
		 test_converge);
	rm_rf(tmpdir);
	return test_summary();
}
