#!/bin/sh
# collect_runtime.sh BINARY DEST: the ztune binary and what it needs at run time, for an image's last stage.
#   DEST/bin/ztune              the binary, its run path set to DEST/lib
#   DEST/lib/                   every library it loads that no Debian/Ubuntu package provides (libtorch,
#                               c10, the NVIDIA libraries of the torch wheel, ...), copied
#   DEST/runtime-packages.txt   the packages that provide the others (OpenMPI, HDF5, libcurl, ...), for apt-get
# Fails, naming the library, when one cannot be found.
set -eu
binary="$1" dest="$2"
mkdir -p "$dest/bin" "$dest/lib"
cp "$binary" "$dest/bin/ztune"
missing=$(ldd "$binary" | awk '/not found/ {print $1}')
if [ -n "$missing" ]; then
  echo "collect_runtime: $binary needs libraries that are not installed: $missing" >&2
  exit 1
fi
: > "$dest/runtime-packages.txt.all"
ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | while read -r path; do
  real=$(readlink -f "$path")
  package=""
  for candidate in "$path" "$real" "/usr$path" "/usr$real"; do
    package=$(dpkg -S "$candidate" 2>/dev/null | head -n1 | cut -d: -f1) && [ -n "$package" ] && break
  done
  if [ -n "$package" ]; then
    echo "$package" >> "$dest/runtime-packages.txt.all"
  else
    cp -L "$path" "$dest/lib/"
  fi
done
sort -u "$dest/runtime-packages.txt.all" > "$dest/runtime-packages.txt"
rm "$dest/runtime-packages.txt.all"
# libtorch finds its NVIDIA libraries through $ORIGIN/../../nvidia/...; here they all sit next to it.
echo "collect_runtime: $(ls "$dest/lib" | wc -l) libraries copied ($(du -sh "$dest/lib" | cut -f1)), packages: $(tr '\n' ' ' < "$dest/runtime-packages.txt")"
