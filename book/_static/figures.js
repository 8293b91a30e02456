// Every figure opens at full resolution in a new tab (to enlarge it on a phone, or save the PNG): the image becomes a
// link to itself, and the caption ends with "Full size".
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("figure img, div.figure img").forEach((img) => {
    if (img.closest("a")) return;
    const link = document.createElement("a");
    link.href = img.currentSrc || img.src;
    link.target = "_blank";
    link.rel = "noopener";
    link.title = "Open the figure at full size";
    img.replaceWith(link);
    link.appendChild(img);
    const caption = link.closest("figure, div.figure")?.querySelector("figcaption, .caption");
    if (caption) {
      const full = document.createElement("a");
      full.href = link.href;
      full.target = "_blank";
      full.rel = "noopener";
      full.className = "livingreview-fullsize";
      full.textContent = "Full size";
      caption.append(" ", full);
    }
  });
});
