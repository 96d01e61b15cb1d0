// SPDX-License-Identifier: GPL-2.0-only
/*
 * A real program for vmtrack dump (dump.sh): Node.js compiling new code and
 * churning its heap while it is dumped: V8 writes new machine code into its
 * code space, its garbage collector threads move objects and give memory
 * back, its heap grows and shrinks, as no seeded test target does.
 *
 *   node js-target.js   prints "ready", then runs until killed
 */
'use strict';

let keep = [];
let n = 0;

function record(i) {
	return { id: i, pair: [i, i + 1], name: 'r' + i };
}

function step() {
	for (let i = 0; i < 5000; i++) {
		keep.push(record(n++));
		if (keep.length > 100000)
			keep = keep.slice(50000);
	}
	const floats = new Float64Array(50000 + (n % 7) * 1000);
	floats.fill(n);
	keep.push(floats);
	// a function V8 has not seen: new code every step
	keep.push(new Function('x', 'return x * ' + n + ' + ' + (n % 13))(3));
	setImmediate(step);
}

console.log('ready');
step();
