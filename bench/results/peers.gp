# Written by peers_bench; run from this directory: gnuplot peers.gp
set terminal pngcairo size 1400,1200 font 'Sans,10'
set output 'peers.png'
set multiplot layout 2,1 title "edgekey beside its peers: ns per request (SHA-256 + lookup), median, log scale — 2026-12-08 01:51 UTC"
set key autotitle columnheader
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set yrange [100:*]
set format y '%g'
set ylabel 'ns per request, per thread (lower is better)'
set grid ytics
set key top left
set xtics noenhanced
set key noenhanced
set xtics scale 0
set title "latency: one request at a time (an lfence after each request, every peer alike)"
plot for [i=2:5] 'peers.dat' index 0 using i:xtic(1) title columnheader(i), \
  'peers.dat' index 0 using ($0 + (0 - 1.5) / 5):2:(sprintf('%.0f', column(2))) with labels offset 0,0.7 font 'Sans,7' notitle, \
  'peers.dat' index 0 using ($0 + (1 - 1.5) / 5):3:(sprintf('%.0f', column(3))) with labels offset 0,0.7 font 'Sans,7' notitle, \
  'peers.dat' index 0 using ($0 + (2 - 1.5) / 5):4:(sprintf('%.0f', column(4))) with labels offset 0,0.7 font 'Sans,7' notitle, \
  'peers.dat' index 0 using ($0 + (3 - 1.5) / 5):5:(sprintf('%.0f', column(5))) with labels offset 0,0.7 font 'Sans,7' notitle
set title "throughput: requests back to back (the CPU overlaps consecutive requests)"
plot for [i=2:5] 'peers.dat' index 1 using i:xtic(1) title columnheader(i), \
  'peers.dat' index 1 using ($0 + (0 - 1.5) / 5):2:(sprintf('%.0f', column(2))) with labels offset 0,0.7 font 'Sans,7' notitle, \
  'peers.dat' index 1 using ($0 + (1 - 1.5) / 5):3:(sprintf('%.0f', column(3))) with labels offset 0,0.7 font 'Sans,7' notitle, \
  'peers.dat' index 1 using ($0 + (2 - 1.5) / 5):4:(sprintf('%.0f', column(4))) with labels offset 0,0.7 font 'Sans,7' notitle, \
  'peers.dat' index 1 using ($0 + (3 - 1.5) / 5):5:(sprintf('%.0f', column(5))) with labels offset 0,0.7 font 'Sans,7' notitle
unset multiplot
