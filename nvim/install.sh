#!/bin/sh
# Install the Neovim plugin of this checkout as a Neovim package (:help packages), without
# writing anything into the checkout.
#
# The package folder is $XDG_DATA_HOME/nvim/site/pack/redis-ai/start/redis_ai (Neovim's
# stdpath('data'), so NVIM_APPNAME is honoured too). It is a real folder whose lua/ and
# plugin/ link into the checkout, and whose doc/ holds a link to the help file: :helptags then
# writes doc/tags there, not in the checkout (a link to the whole nvim/ folder would put it in
# the checkout). Run it again after pulling a help file with new tags; it is idempotent.
set -eu

here=$(cd "$(dirname "$0")" && pwd -P)
data=${XDG_DATA_HOME:-$HOME/.local/share}/${NVIM_APPNAME:-nvim}
dest=$data/site/pack/redis-ai/start/redis_ai

# An install by the older instructions linked the whole nvim/ folder here: replace the link.
if [ -L "$dest" ]; then rm "$dest"; fi
mkdir -p "$dest/doc"
# -n: replace an earlier link instead of making one inside the folder it points to.
ln -sfn "$here/lua" "$dest/lua"
ln -sfn "$here/plugin" "$dest/plugin"
ln -sf "$here/doc/redis_ai.txt" "$dest/doc/redis_ai.txt"
if command -v "${NVIM:-nvim}" >/dev/null 2>&1; then
  "${NVIM:-nvim}" --headless -u NONE -i NONE -n -c "helptags $dest/doc" -c 'qa!'
else
  echo "nvim is not on PATH: run :helptags $dest/doc in Neovim for :help redis_ai" >&2
fi
echo "installed $dest"
