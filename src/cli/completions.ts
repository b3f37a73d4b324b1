/**
 * `strata completions bash|zsh|fish`: shell completion scripts generated from the cmd-ts
 * definitions the parser itself runs on (VERBS in ./commands.ts), so a new verb, alias or flag
 * completes without anyone remembering to list it here.
 *
 * Each script has the same three parts: a table that turns (command path so far, word) into the
 * next path (aliases map to the canonical name; any other word, e.g. a REV or an option's value,
 * leaves it: only the top and the groups have subverbs, and they take no options), a loop over
 * the words before the cursor, and per path the words to offer. After an option taking a value: files.
 */
import { command, oneOf, positional, subcommands } from "cmd-ts";
import type { HelpTopic } from "cmd-ts/dist/esm/helpdoc.js";
import { outputArgs } from "./common.ts";
import { runVerb } from "./verb.ts";

/** What completions read of a cmd-ts command, or of a group made with `group()`. */
export interface CliNode {
  description?: string | undefined;
  aliases?: string[] | undefined;
  helpTopics?(): HelpTopic[];
  cmds?: Record<string, CliNode>;
}

export interface CompletionOption {
  long: string;
  short: string | undefined;
  description: string;
  takesValue: boolean;
}

export interface CompletionVerb {
  /** Canonical names from the top, e.g. ["fleet", "up"]. */
  path: string[];
  /** The name and its aliases. */
  names: string[];
  description: string;
  options: CompletionOption[];
  subverbs: CompletionVerb[];
}

export const SHELLS = ["bash", "zsh", "fish"] as const;
export type Shell = (typeof SHELLS)[number];

/**
 * cmd-ts's `subcommands` keeps its `cmds` private; a group keeps them visible so completions can
 * walk into `strata schema …` and `strata fleet …`. Otherwise exactly `subcommands`.
 */
export function group<C extends Parameters<typeof subcommands>[0]["cmds"]>(config: { name: string; description: string; cmds: C }) {
  return Object.assign(subcommands(config), { cmds: config.cmds });
}

/** "--lock-timeout, -l <str>" -> { long, short, takesValue }; positionals ("<REV>") are not options. */
export function optionOf(topic: HelpTopic): CompletionOption | undefined {
  if (topic.category === "arguments") return undefined;
  const m = /^--([A-Za-z0-9][\w-]*)(?:, -([A-Za-z0-9]))?( <[^>]*>)?$/.exec(topic.usage);
  // A usage line of another shape means cmd-ts changed: fail loudly rather than drop a flag.
  if (!m) throw new Error(`completions: cannot read the option usage ${JSON.stringify(topic.usage)}`);
  return { long: m[1]!, short: m[2], takesValue: m[3] !== undefined, description: shortDescription(topic.description) };
}

/** The first clause, without "[env …]", on one line: what a completion menu has room for. */
function shortDescription(text: string): string {
  const plain = text.replace(/\s*\[env [^\]]*\]/g, "").replace(/\s+/g, " ").trim();
  const first = plain.split(/[;:]\s|\s\(/)[0]!.trim();
  return first.length > 70 ? `${first.slice(0, 67)}...` : first;
}

export function completionTree(cmds: Record<string, CliNode>, parent: string[] = []): CompletionVerb[] {
  return Object.entries(cmds).map(([name, node]) => {
    const path = [...parent, name];
    return {
      path,
      names: [name, ...(node.aliases ?? [])],
      description: shortDescription(node.description ?? ""),
      options: (node.helpTopics?.() ?? []).map(optionOf).filter((o): o is CompletionOption => o !== undefined),
      subverbs: node.cmds ? completionTree(node.cmds, path) : [],
    };
  });
}

/** Every verb at every depth. */
export function allVerbs(tree: CompletionVerb[]): CompletionVerb[] {
  return tree.flatMap((v) => [v, ...allVerbs(v.subverbs)]);
}

/** `strata help VERB` and `strata version` are spelled out in ./run.ts, not in the parser. */
const META: CompletionVerb[] = [
  { path: ["help"], names: ["help"], description: "this help, or a command's", options: [], subverbs: [] },
  { path: ["version"], names: ["version"], description: "version, commit, build target", options: [], subverbs: [] },
];
const TOP_OPTIONS: CompletionOption[] = [
  { long: "help", short: "h", description: "show help", takesValue: false },
  { long: "version", short: "V", description: "version, commit, build target", takesValue: false },
];

interface Plan {
  /** [parent path, word, next path] for every verb name and alias. */
  steps: [string, string, string][];
  /** Per command path (space-joined, "" is the top): the subverbs and options to offer. */
  offers: { path: string; verbs: { name: string; description: string }[]; options: CompletionOption[] }[];
  /** Option spellings (--long and -s) that take a value, over all verbs. */
  valueOptions: string[];
}

function plan(tree: CompletionVerb[]): Plan {
  const verbs = allVerbs(tree);
  const steps: Plan["steps"] = [];
  for (const v of [...verbs, ...META]) {
    for (const name of v.names) steps.push([v.path.slice(0, -1).join(" "), name, v.path.join(" ")]);
  }
  const entries = (list: CompletionVerb[]) => list.flatMap((v) => v.names.map((name) => ({ name, description: v.description })));
  const offers: Plan["offers"] = [
    { path: "", verbs: entries([...tree, ...META]), options: TOP_OPTIONS },
    // `strata help <TAB>` offers the verbs again.
    { path: "help", verbs: entries(tree), options: [] },
    ...verbs.map((v) => ({ path: v.path.join(" "), verbs: entries(v.subverbs), options: v.options })),
  ];
  const valueOptions = new Set<string>();
  for (const v of verbs) {
    for (const o of v.options) {
      if (!o.takesValue) continue;
      valueOptions.add(`--${o.long}`);
      if (o.short) valueOptions.add(`-${o.short}`);
    }
  }
  return { steps, offers, valueOptions: [...valueOptions].sort() };
}

function spellings(o: CompletionOption): string[] {
  return [`--${o.long}`, ...(o.short ? [`-${o.short}`] : [])];
}

const header = (shell: Shell) => `# ${shell} completion for strata, generated by \`strata completions ${shell}\` from the commands it parses.`;

/** Single quotes for bash and zsh. */
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** bash and zsh share the path table: `_strata_step PATH WORD` sets REPLY to the next path. */
function posixStep(p: Plan): string[] {
  return [
    "_strata_step() {",
    '  case "$1|$2" in',
    ...p.steps.map(([from, word, to]) => `    ${q(`${from}|${word}`)}) REPLY=${q(to)} ;;`),
    "    *) REPLY=$1 ;;",
    "  esac",
    "}",
  ];
}

function bashScript(p: Plan): string {
  return [
    header("bash"),
    "# Install: strata completions bash > ~/.local/share/bash-completion/completions/strata",
    ...posixStep(p),
    "_strata() {",
    '  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} REPLY="" i offer=""',
    '  for ((i = 1; i < COMP_CWORD; i++)); do _strata_step "$REPLY" "${COMP_WORDS[i]}"; done',
    "  case $prev in",
    `    ${p.valueOptions.join("|")}) COMPREPLY=($(compgen -f -- "$cur")); return ;;`,
    "  esac",
    '  case "$REPLY" in',
    ...p.offers.map((o) => `    ${q(o.path)}) offer=${q([...o.verbs.map((v) => v.name), ...o.options.flatMap(spellings)].join(" "))} ;;`),
    "  esac",
    '  COMPREPLY=($(compgen -W "$offer" -- "$cur"))',
    "}",
    // -o default: a positional (a file to restore, a message) falls back to file names.
    "complete -o default -F _strata strata",
    "",
  ].join("\n");
}

function zshScript(p: Plan): string {
  const item = (name: string, description: string) => q(`${name.replace(/:/g, "\\:")}:${description}`);
  return [
    "#compdef strata",
    header("zsh"),
    "# Install: strata completions zsh > \"${fpath[1]}/_strata\" (then compinit), or source it after compinit.",
    ...posixStep(p),
    "_strata() {",
    '  local REPLY="" i files=1',
    "  local -a offer",
    '  for ((i = 2; i < CURRENT; i++)); do _strata_step "$REPLY" "${words[i]}"; done',
    "  case ${words[CURRENT-1]} in",
    `    ${p.valueOptions.join("|")}) _files; return ;;`,
    "  esac",
    '  case "$REPLY" in',
    ...p.offers.map((o) => {
      const items = [...o.verbs.map((v) => item(v.name, v.description)), ...o.options.flatMap((opt) => spellings(opt).map((s) => item(s, opt.description)))];
      // A path with subverbs takes no file; a verb's positional (a backup to restore) may.
      return `    ${q(o.path)}) offer=(${items.join(" ")})${o.verbs.length > 0 ? "; files=0" : ""} ;;`;
    }),
    "  esac",
    "  _describe -t strata strata offer",
    "  [[ $files == 0 || ${words[CURRENT]} == -* ]] || _files",
    "}",
    // Loaded from $fpath by compinit, the file's body is the function; sourced, register it.
    'if [[ $zsh_eval_context[-1] == loadautofunc ]]; then _strata "$@"; else compdef _strata strata; fi',
    "",
  ].join("\n");
}

function fishScript(p: Plan): string {
  const q = (s: string) => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
  const lines = [
    header("fish"),
    "# Install: strata completions fish > ~/.config/fish/completions/strata.fish",
    "function __strata_step",
    '    switch "$argv[1]|$argv[2]"',
    ...p.steps.map(([from, word, to]) => `        case ${q(`${from}|${word}`)}\n            echo ${q(to)}`),
    "        case '*'",
    "            echo $argv[1]",
    "    end",
    "end",
    "function __strata_path",
    "    set -l words (commandline -opc)",
    "    set -e words[1]",
    "    set -l p ''",
    "    for w in $words",
    '        set p (__strata_step "$p" $w)',
    "    end",
    '    echo "$p"',
    "end",
    "function __strata_at",
    "    set -l p (__strata_path)",
    '    test "$p" = "$argv[1]"',
    "end",
    "complete -c strata -f",
  ];
  for (const o of p.offers) {
    const at = `-n ${q(`__strata_at ${q(o.path)}`)}`;
    for (const v of o.verbs) lines.push(`complete -c strata ${at} -a ${q(v.name)} -d ${q(v.description)}`);
    for (const opt of o.options) {
      lines.push(`complete -c strata ${at} -l ${opt.long}${opt.short ? ` -s ${opt.short}` : ""}${opt.takesValue ? " -r -F" : ""} -d ${q(opt.description)}`);
    }
  }
  lines.push("");
  return lines.join("\n");
}

export function completionScript(shell: Shell, cmds: Record<string, CliNode>): string {
  const p = plan(completionTree(cmds));
  return shell === "bash" ? bashScript(p) : shell === "zsh" ? zshScript(p) : fishScript(p);
}

/** The `completions` verb; `verbs` is called when it runs, so it can complete itself too. */
export function completionsCommand(verbs: () => Record<string, CliNode>) {
  return command({
    name: "completions",
    description: "Print the shell completion script for bash, zsh or fish",
    examples: [
      { description: "bash", command: "strata completions bash > ~/.local/share/bash-completion/completions/strata" },
      { description: "zsh (a folder in $fpath)", command: "strata completions zsh > ~/.zfunc/_strata" },
      { description: "fish", command: "strata completions fish > ~/.config/fish/completions/strata.fish" },
    ],
    args: {
      ...outputArgs,
      shell: positional({ type: oneOf(SHELLS), displayName: "SHELL", description: "bash, zsh or fish" }),
    },
    handler: (a) =>
      runVerb("completions", a, async () => ({ shell: a.shell, script: completionScript(a.shell, verbs()) }), (r) => r.script),
  });
}
