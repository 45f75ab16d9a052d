#!/usr/bin/env node
// ONNX Runtime side of the ONNX export checks (tests/cli/test_onnx_ort.sh) and of the
// encoding benchmark (eval/bench_encode.sh): runs a model written by `bienc export
// --format onnx` on token ids given as JSON, through onnxruntime-node (the prebuilt
// libonnxruntime.so of npm's package; scripts/install-ort-node.sh installs it).
//
// usage: node eval/ort_run.js --ort DIR --model model.onnx --input IN.json --output OUT.json
//            [--threads N] [--batch-size B] [--sort] [--hidden-states] [--no-spin] [--opt LEVEL]
//            [--save-optimized FILE]   (the graph after ONNX Runtime's optimisations)
//   IN.json   {"ids": [[101, 7, 102], ...], "types": [[0, 0, 0], ...]}   (types optional: zeros)
//   OUT.json  {"sentence_embedding" | "logits": [[...] per text, input order],
//              "last_hidden_state": [[[...] per real token] per text]  (with --hidden-states),
//              "seconds": time in session.run (the batches only), "peak_rss_mb", "ort_version"}
// Texts go in batches of B (default 64) in input order, or longest first with --sort (as
// SentenceTransformer.encode), each batch right-padded to its longest text with
// attention_mask 0 on the padding. The session: graph optimisation LEVEL (default "all";
// disabled / basic / extended / all), N intra-op
// threads (default 2), one inter-op thread, sequential execution.
'use strict';
const fs = require('fs');
const path = require('path');

function parseArgs(argv) {
  const a = { threads: 2, batchSize: 64, sort: false, hidden: false, spin: true, opt: 'all' };
  for (let i = 2; i < argv.length; i++) {
    const k = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(k + ' needs a value');
      return argv[++i];
    };
    if (k === '--ort') a.ort = next();
    else if (k === '--model') a.model = next();
    else if (k === '--input') a.input = next();
    else if (k === '--output') a.output = next();
    else if (k === '--threads') a.threads = parseInt(next(), 10);
    else if (k === '--batch-size') a.batchSize = parseInt(next(), 10);
    else if (k === '--sort') a.sort = true;
    else if (k === '--hidden-states') a.hidden = true;
    else if (k === '--no-spin') a.spin = false;
    else if (k === '--opt') a.opt = next();
    else if (k === '--save-optimized') a.saveOptimized = next();
    else throw new Error('unknown argument ' + k);
  }
  if (!a.ort || !a.model || !a.input || !a.output) throw new Error('--ort, --model, --input and --output are required');
  return a;
}

function int64Batch(rows, L, fill) {
  const data = new BigInt64Array(rows.length * L);
  rows.forEach((r, b) => {
    for (let t = 0; t < r.length; t++) data[b * L + t] = BigInt(fill === undefined ? r[t] : fill);
  });
  return data;
}

async function main() {
  const a = parseArgs(process.argv);
  const ort = require(path.join(path.resolve(a.ort), 'node_modules', 'onnxruntime-node'));
  const input = JSON.parse(fs.readFileSync(a.input, 'utf8'));
  const ids = input.ids;
  const types = input.types || ids.map((r) => r.map(() => 0));
  const opts = { graphOptimizationLevel: a.opt, intraOpNumThreads: a.threads, interOpNumThreads: 1,
                 executionMode: 'sequential' };
  if (!a.spin) opts.extra = { session: { intra_op: { allow_spinning: '0' } } };
  if (a.saveOptimized) opts.optimizedModelFilePath = a.saveOptimized;
  const session = await ort.InferenceSession.create(a.model, opts);
  const outName = session.outputNames.includes('sentence_embedding') ? 'sentence_embedding' : 'logits';
  const fetch = [outName];
  if (a.hidden) fetch.push('last_hidden_state');

  const order = ids.map((_, i) => i);
  if (a.sort) order.sort((x, y) => ids[y].length - ids[x].length || x - y);
  const result = new Array(ids.length), hidden = a.hidden ? new Array(ids.length) : null;
  let seconds = 0;
  for (let s = 0; s < order.length; s += a.batchSize) {
    const idx = order.slice(s, s + a.batchSize);
    const L = Math.max(...idx.map((i) => ids[i].length));
    const dims = [idx.length, L];
    const feeds = {
      input_ids: new ort.Tensor('int64', int64Batch(idx.map((i) => ids[i]), L), dims),
      attention_mask: new ort.Tensor('int64', int64Batch(idx.map((i) => ids[i]), L, 1), dims),
      token_type_ids: new ort.Tensor('int64', int64Batch(idx.map((i) => types[i]), L), dims),
    };
    const t0 = process.hrtime.bigint();
    const out = await session.run(feeds, fetch);
    seconds += Number(process.hrtime.bigint() - t0) / 1e9;
    const o = out[outName], C = o.dims[1];
    idx.forEach((i, b) => { result[i] = Array.from(o.data.subarray(b * C, (b + 1) * C)); });
    if (a.hidden) {
      const h = out.last_hidden_state, H = h.dims[2];
      idx.forEach((i, b) => {
        hidden[i] = [];
        for (let t = 0; t < ids[i].length; t++) {
          const off = (b * L + t) * H;
          hidden[i].push(Array.from(h.data.subarray(off, off + H)));
        }
      });
    }
  }
  const peakRssMb = process.resourceUsage().maxRSS / 1024; // before the output is serialised
  const res = { [outName]: result, seconds, peak_rss_mb: peakRssMb,
                ort_version: require(path.join(path.resolve(a.ort), 'node_modules', 'onnxruntime-node',
                                               'package.json')).version };
  if (a.hidden) res.last_hidden_state = hidden;
  fs.writeFileSync(a.output, JSON.stringify(res));
}

main().catch((e) => {
  console.error('ort_run: ' + (e && e.message ? e.message : e));
  process.exit(1);
});
