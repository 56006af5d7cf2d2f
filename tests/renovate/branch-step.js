// Renovate's branch step, driven from its installed package.
//
// `renovate --platform=local` stops after the lookup (dry run "lookup"): it finds the upgrades and
// names their branches but never runs the managers' artifact updates. This script runs, for each
// branch the local run proposed, what Renovate's branch worker does on a real platform: clone the
// project's repository, check out the base branch, `getUpdatedPackageFiles` (which calls the copier
// manager's `updateDependency` and `updateArtifacts`, i.e. `copier update --skip-answered --defaults
// --answers-file … --vcs-ref …` from PATH), then `commitFiles` (commit and push the branch).
//
// Usage: node branch-step.js RENOVATE_PREFIX INPUT.json OUTPUT.json
//   INPUT: {"remote": URL, "baseBranch": "main", "cacheDir": DIR,
//           "branches": [{"branchName": …, "localDir": DIR, "upgrades": [ … ]}]}
//   OUTPUT: one result per branch (artifact errors, changed and committed paths, status after).
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const [prefix, inputFile, outputFile] = process.argv.slice(2);
const dist = path.join(prefix, 'node_modules', 'renovate', 'dist');
const load = (module) => require(path.join(dist, module));

async function branchStep(input, branch, modules) {
  const { GlobalConfig, git, getUpdatedPackageFiles } = modules;
  fs.mkdirSync(branch.localDir, { recursive: true });
  GlobalConfig.set({
    localDir: branch.localDir,
    cacheDir: input.cacheDir,
    binarySource: 'global',
    allowScripts: false,
  });
  await git.initRepo({ url: input.remote, defaultBranch: input.baseBranch });
  await git.syncGit();
  await git.checkoutBranch(input.baseBranch);
  const config = {
    manager: 'copier',
    branchName: branch.branchName,
    baseBranch: input.baseBranch,
    reuseExistingBranch: false,
    upgrades: branch.upgrades.map((upgrade) => ({ ...upgrade, manager: 'copier', branchName: branch.branchName })),
  };
  const result = await getUpdatedPackageFiles(config);
  const before = await git.getRepoStatus();
  const files = [...result.updatedPackageFiles, ...result.updatedArtifacts];
  let commit = null;
  if (files.length) {
    commit = await git.commitFiles({
      branchName: branch.branchName,
      files,
      message: `Update template ${branch.upgrades.map((u) => u.packageFile).join(', ')}`,
      platformCommit: 'disabled',
    });
  }
  const after = await git.getRepoStatus();
  return {
    branchName: branch.branchName,
    packageFiles: branch.upgrades.map((u) => u.packageFile),
    artifactErrors: result.artifactErrors,
    updatedPackageFiles: result.updatedPackageFiles.map((f) => f.path),
    updatedArtifacts: result.updatedArtifacts.map((f) => ({ type: f.type, path: f.path })),
    changedBeforeCommit: before.files.map((f) => f.path).sort(),
    conflicted: before.conflicted,
    commit,
    statusAfterCommit: after.files.map((f) => f.path),
  };
}

async function main() {
  const input = JSON.parse(fs.readFileSync(inputFile, 'utf8'));
  const modules = {
    GlobalConfig: load('config/global').GlobalConfig,
    git: load('util/git'),
    getUpdatedPackageFiles: load('workers/repository/update/branch/get-updated').getUpdatedPackageFiles,
  };
  const results = [];
  for (const branch of input.branches) {
    try {
      results.push(await branchStep(input, branch, modules));
    } catch (err) {
      results.push({ branchName: branch.branchName, error: String(err && err.stack ? err.stack : err) });
    }
  }
  fs.writeFileSync(outputFile, JSON.stringify(results, null, 1));
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  },
);
